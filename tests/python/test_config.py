"""mlci.yaml: malformed configs give exit 2 and one line naming the file, field and problem."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import cli_env
from projects import classification_project

BASE = {
    "name": "bc",
    "task": "classification",
    "data": {"train": "data/train.csv", "target": "diagnosis"},
}


def with_(path: str, value):
    """BASE with the dotted key set (or deleted when value is DELETE)."""
    cfg = json.loads(json.dumps(BASE))
    node = cfg
    parts = path.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return cfg


DELETE = object()

MALFORMED = [
    ("params as string", with_("model.params", "abc"), "mlci.yaml: model.params: expected a mapping, got a string"),
    ("unknown top key", with_("modle", {}), "modle: unknown key `modle` (did you mean `model`?)"),
    ("unknown nested key", with_("data.targt", "x"), "data.targt: unknown key `targt` (did you mean `target`?)"),
    ("missing name", with_("name", DELETE), "name: required field is missing"),
    ("missing data", with_("data", DELETE), "data: required field is missing"),
    ("missing target", with_("data.target", DELETE), "data.target: required field is missing"),
    ("bad task", with_("task", "classify"), "task: expected 'classification' or 'regression', got 'classify'"),
    ("test_size > 1", with_("split.test_size", 1.5), "split.test_size: Input should be less than 1"),
    ("test_size text", with_("split.test_size", "big"), "split.test_size: expected a number, got a string"),
    ("seed float text", with_("split.seed", "x"), "split.seed: expected an integer, got a string"),
    ("stratify text", with_("split.stratify", "maybe"), "split.stratify: expected true or false, got a string"),
    ("unknown metric", with_("evaluate.metrics", ["acuracy"]),
     "evaluate.metrics[0]: unknown metric `acuracy` (did you mean `accuracy`?)"),
    ("regression metric on classification", with_("evaluate.metrics", ["rmse"]),
     "evaluate.metrics[0]: unknown metric `rmse`"),
    ("gate without bound", with_("evaluate.gates", [{"metric": "f1"}]),
     "evaluate.gates[0]: a gate needs one of threshold"),
    ("gate unknown metric", with_("evaluate.gates", [{"metric": "f2", "threshold": 0.5}]),
     "evaluate.gates[0].metric: unknown metric `f2` (did you mean `f1`?)"),
    ("gate negative max_regression", with_("evaluate.gates", [{"metric": "f1", "max_regression": -1}]),
     "evaluate.gates[0].max_regression: Input should be greater than or equal to 0"),
    ("gates not a list", with_("evaluate.gates", {"metric": "f1"}), "evaluate.gates: expected a list, got a mapping"),
    ("bad name", with_("name", "my model!"), "name: 'my model!' is not allowed"),
    ("store scheme", with_("store.uri", "ftp://x/y"), "store.uri: unsupported scheme"),
    ("command trainer without command", with_("model.trainer", "command"), "needs `model.command`"),
    ("features include not list", with_("data.features.include", "a"), "data.features.include: expected a list, got a string"),
]


@pytest.mark.parametrize("label,cfg,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config(tmp_path, mlci, label, cfg, message):
    classification_project(tmp_path)
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump(cfg))
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / ".mlci" / "runs").exists()


@pytest.mark.parametrize("text,message", [
    ("", "mlci.yaml: file is empty, expected a mapping"),
    ("- a\n- b\n", "mlci.yaml: expected a mapping at the top level, got a list"),
    ("name: x\n  task: [\n", "mlci.yaml: line 2"),
    ("name: a\nname: b\n", "duplicate key `name`"),
])
def test_unparsable_yaml(tmp_path, mlci, text, message):
    (tmp_path / "mlci.yaml").write_text(text)
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_config_file(tmp_path, mlci):
    r = mlci("train", "-c", "nope.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "nope.yaml: file not found" in r.stderr


def test_config_is_a_directory(tmp_path, mlci):
    (tmp_path / "cfg").mkdir()
    r = mlci("train", "-c", "cfg", cwd=tmp_path)
    assert r.returncode == 2
    assert "cfg: is a directory" in r.stderr


def test_estimator_must_be_an_estimator_class(tmp_path, mlci):
    # os.system is importable and callable: it must be refused before anything calls it
    marker = tmp_path / "called"
    classification_project(tmp_path, model={"estimator": "os.system", "params": {}})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert "model.estimator: `os.system` is not a scikit-learn estimator class" in r.stderr
    assert not marker.exists()


@pytest.mark.parametrize("estimator,message", [
    ("sklearn.ensemble.RandomForestRegresor", "did you mean `sklearn.ensemble.RandomForestRegressor`"),
    ("nosuchpkg.Model", "cannot import module `nosuchpkg`"),
    ("RandomForest", "is not an import path"),
    ("sklearn.ensemble.RandomForestRegressor", "is not a classification estimator"),
])
def test_bad_estimator(tmp_path, mlci, estimator, message):
    classification_project(tmp_path, model={"estimator": estimator})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr


def test_unknown_estimator_param(tmp_path, mlci):
    classification_project(tmp_path, model={"estimator": "sklearn.ensemble.RandomForestClassifier",
                                            "params": {"n_estimator": 10}})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert "model.params.n_estimator: RandomForestClassifier has no parameter `n_estimator` " \
           "(did you mean `n_estimators`?)" in r.stderr


def test_invalid_estimator_param_value(tmp_path, mlci):
    classification_project(tmp_path, model={"estimator": "sklearn.ensemble.RandomForestClassifier",
                                            "params": {"n_estimators": -3}})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert "model.params:" in r.stderr and "n_estimators" in r.stderr
    assert not any((tmp_path / ".mlci" / "runs").glob("*/run.json"))


def test_schema_command_prints_json_schema(tmp_path, mlci):
    r = mlci("config", "schema", cwd=tmp_path)
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema["title"] == "mlci.yaml"
    assert {"name", "task", "data"} <= set(schema["required"])
    assert "model" in schema["properties"]


def test_store_env_overrides_config(tmp_path, mlci):
    cfg = classification_project(tmp_path)
    r = mlci("config", "show", "-c", cfg, env={"MLCI_STORE": str(tmp_path / "elsewhere")})
    assert r.returncode == 0
    assert json.loads(r.stdout)["store"]["uri"] == str(tmp_path / "elsewhere")


def test_every_config_section_is_documented(mlci, tmp_path):
    from conftest import REPO

    schema = json.loads(mlci("config", "schema", cwd=tmp_path).stdout)
    headings = [line for line in (REPO / "docs" / "configuration.md").read_text().splitlines()
                if line.startswith("## ")]
    sections = [name for name, prop in schema["properties"].items() if name not in ("name", "task")]
    missing = [s for s in sections if not any(s in h for h in headings)]
    assert missing == []


def test_reading_a_config_loads_only_the_checks_settings_not_the_runner():
    code = ("import sys\nimport mlci.config\n"
            "print(','.join(m for m in ('mlci.checks.runner', 'mlci.checks.output', 'mlci.junit')"
            " if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
