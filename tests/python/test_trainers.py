"""The `command` trainer: a project's own script trains, mlci records, evaluates, publishes and
loads the model through its predict.py. Real subprocesses, real files, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from docker_fixtures import BASE, docker_client

TRAIN_SCRIPT = '''\
"""Nearest-centroid classifier, saved as JSON (no pickle)."""
import json, os, shutil, sys
import pandas as pd

df = pd.read_parquet(os.environ["MLCI_TRAIN_DATA"])
test = pd.read_parquet(os.environ["MLCI_TEST_DATA"])
features = json.loads(os.environ["MLCI_FEATURES"])
target = os.environ["MLCI_TARGET"]
classes = json.loads(os.environ["MLCI_CLASSES"])
params = json.loads(os.environ["MLCI_PARAMS"])
out = os.environ["MLCI_OUTPUT_DIR"]
print(f"training on {len(df)} rows, {len(test)} test rows, params={params}, "
      f"device={os.environ['MLCI_DEVICE']} seed={os.environ['MLCI_SEED']} task={os.environ['MLCI_TASK']} "
      f"visible={os.environ.get('CUDA_VISIBLE_DEVICES')!r}",
      flush=True)
if params.get("fail"):
    print("something went wrong in epoch 3", file=sys.stderr)
    sys.exit(int(params["fail"]))
if params.get("sleep"):
    import time
    time.sleep(float(params["sleep"]))
centroids = [df[df[target] == c][features].mean().tolist() for c in classes]
with open(os.path.join(out, "centroids.json"), "w") as fh:
    json.dump({"classes": classes, "features": features, "centroids": centroids}, fh)
if not params.get("no_predict"):
    shutil.copy("predict.py", out)
with open(os.path.join(out, "metrics.json"), "w") as fh:
    json.dump({"train_rows": len(df)}, fh)
print("done", flush=True)
'''

PREDICT = '''\
import json, os
import numpy as np

def load(model_dir):
    with open(os.path.join(model_dir, "centroids.json")) as fh:
        return json.load(fh)

def _dist(model, df):
    x = df[model["features"]].to_numpy(dtype=float)
    c = np.asarray(model["centroids"])
    return ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)

def predict(model, df):
    return np.asarray(model["classes"])[_dist(model, df).argmin(axis=1)]

def predict_proba(model, df):
    w = np.exp(-(_dist(model, df) - _dist(model, df).min(axis=1, keepdims=True)) / 10.0)
    return w / w.sum(axis=1, keepdims=True)
'''


def make_project(root: Path, params: dict | None = None, command: str = "python train.py",
                 extra: str = "", model: dict | None = None) -> Path:
    rng = np.random.default_rng(0)
    n = 160
    y = rng.integers(0, 2, n)
    df = pd.DataFrame({"a": rng.normal(y * 2.0, 1.0), "b": rng.normal(-y * 1.5, 1.0),
                       "id": np.arange(n), "label": y})
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    df.to_csv(root / "data" / "train.csv", index=False)
    (root / "train.py").write_text(TRAIN_SCRIPT)
    (root / "predict.py").write_text(PREDICT)
    cfg = {
        "name": "centroids", "task": "classification",
        "data": {"train": "data/train.csv", "target": "label", "features": {"exclude": ["id"]}},
        "split": {"test_size": 0.25, "seed": 3},
        "model": model or {"trainer": "command", "command": command, "params": params or {"k": 1}},
        "evaluate": {"metrics": ["accuracy", "roc_auc"], "baseline": None,
                     "gates": [{"metric": "accuracy", "threshold": 0.7}]},
    }
    text = json.dumps(cfg, indent=1) + "\n"  # JSON is YAML
    (root / "mlci.yaml").write_text(text if not extra else text.rstrip()[:-1] + "," + extra + "}\n")
    return root / "mlci.yaml"


def test_command_trainer_records_evaluates_and_skips_unchanged(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", params={"k": 7})
    r = mlci("train", "-c", cfg)
    assert r.returncode == 0, r.stderr
    # the script's output is streamed to the user
    assert "training on 120 rows, 40 test rows, params={'k': 7}, device=cpu seed=3" in r.stderr
    assert "trained command on 120 rows" in r.stderr

    run_dir = next(p for p in (tmp_path / "p" / ".mlci" / "runs").iterdir() if p.is_dir())
    meta = json.loads((run_dir / "model" / "MLmodel.json").read_text())
    assert meta["format"] == "command"
    assert set(meta["files"]) == {"centroids.json", "predict.py", "signature.json"}
    assert all(len(sha) == 64 for sha in meta["files"].values())
    assert not (run_dir / "model" / "__pycache__").exists()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["trainer"] == "command" and info["trainer_metrics"] == {"train_rows": 120}
    assert info["device"]["kind"] == "cpu"
    assert "done" in (run_dir / "train.log").read_text()
    sig = json.loads((run_dir / "model" / "signature.json").read_text())
    assert [i["name"] for i in sig["inputs"]] == ["a", "b"] and sig["classes"] == [0, 1]

    r = mlci("evaluate", "-c", cfg, "--json")
    assert r.returncode == 0, r.stderr
    evaluation = json.loads(r.stdout)
    assert evaluation["blessed"] is True
    assert evaluation["metrics"]["accuracy"] > 0.8 and evaluation["metrics"]["roc_auc"] > 0.8
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(preds.columns) == ["y_true", "y_pred", "proba_0", "proba_1"]

    again = mlci("train", "-c", cfg)
    assert again.returncode == 0 and "up to date" in again.stderr
    assert "training on" not in again.stderr


def _run_files(run_dir: Path) -> set[str]:
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}


def test_sklearn_and_command_trainers_write_the_same_run_files(tmp_path, mlci):
    """One training path: whatever trains the model, the run directory holds the same files
    (reference statistics included), beside the model's own files."""
    runs = {}
    for trainer in ("sklearn", "command"):
        model = {"estimator": "sklearn.tree.DecisionTreeClassifier"} if trainer == "sklearn" else None
        cfg = make_project(tmp_path / trainer, model=model)
        r = mlci("train", "-c", cfg, "--json")
        assert r.returncode == 0, r.stderr
        runs[trainer] = tmp_path / trainer / ".mlci" / "runs" / json.loads(r.stdout)["run_id"]
    own = {"sklearn": {"model/model.skops"}, "command": {"model/centroids.json", "model/predict.py", "train.log"}}
    common = {t: _run_files(d) - own[t] for t, d in runs.items()}
    assert common["sklearn"] == common["command"]
    assert {"run.json", "test.parquet", "reference_stats.json", "stages/train.json",
            "model/MLmodel.json", "model/signature.json"} <= common["command"]
    sk, cmd = (json.loads((runs[t] / "run.json").read_text()) for t in ("sklearn", "command"))
    assert set(sk) <= set(cmd) and cmd["timings_s"].keys() == sk["timings_s"].keys()
    assert json.loads((runs["sklearn"] / "model" / "signature.json").read_text()) == \
        json.loads((runs["command"] / "model" / "signature.json").read_text())


def test_monitor_drift_works_on_a_command_model(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    r = mlci("run", "-c", cfg, "--promote")
    assert r.returncode == 0, r.stderr
    shifted = pd.read_csv(tmp_path / "p" / "data" / "train.csv")
    shifted["a"] = shifted["a"] + 5.0
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    r = mlci("monitor", "drift", "-c", cfg, "--model", "centroids@production", "--current",
             tmp_path / "shifted.csv", "--json")
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout)
    assert [c["column"] for c in result["drift"]["columns"] if c["drifted"]] == ["a"]
    same = mlci("monitor", "drift", "-c", cfg, "--model", "centroids@production", "--current",
                tmp_path / "p" / "data" / "train.csv", "--json")
    assert same.returncode == 0, same.stderr


def test_whole_pipeline_publishes_and_the_stored_model_loads_through_load_any(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    r = mlci("run", "-c", cfg, "--promote")
    assert r.returncode == 0, r.stderr
    from mlci import config
    from mlci import model as model_io
    from mlci.registry import Registry, download_model
    from mlci.runs import Project

    project = Project(config.load(cfg))
    registry = Registry(project.open_store(), "centroids")
    record = registry.get(registry.alias("production")["version"])
    model_dir = download_model(project.open_store(), record, tmp_path / "cache")
    model = model_io.load_any(model_dir)
    rows = pd.DataFrame({"b": [-3.0, 3.0], "a": [4.0, -4.0], "unused": [1, 2]})
    assert model.predict(rows).tolist() == [1, 0]
    assert model.predict_proba(rows).shape == (2, 2)
    assert model.classes_ == [0, 1]
    with pytest.raises(Exception, match="refused"):
        model_io.load_any(model_dir, allow_code=False)


def test_the_server_predictor_serves_a_command_model(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    assert mlci("train", "-c", cfg).returncode == 0
    from mlci.serve.predictor import Predictor

    run_dir = next(p for p in (tmp_path / "p" / ".mlci" / "runs").iterdir() if p.is_dir())
    predictor = Predictor(run_dir / "model")
    assert predictor.classes == [0, 1] and predictor.can_proba and predictor.engine == "sklearn"
    labels, proba = predictor.predict([[4.0, -3.0], [-4.0, 3.0]], proba=True)
    assert labels == [1, 0] and len(proba) == 2 and abs(sum(proba[0]) - 1) < 1e-9


def test_tampered_command_model_is_refused_before_its_code_runs(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    assert mlci("train", "-c", cfg).returncode == 0
    run_dir = next(p for p in (tmp_path / "p" / ".mlci" / "runs").iterdir() if p.is_dir())
    with open(run_dir / "model" / "predict.py", "a") as fh:
        fh.write("\nopen('/tmp/should-not-exist-mlci', 'w')\n")
    r = mlci("evaluate", "-c", cfg)
    assert r.returncode == 2
    assert "predict.py: checksum mismatch" in r.stderr


def test_failing_script_is_exit_2_with_the_last_output(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", params={"fail": 3})
    r = mlci("train", "-c", cfg)
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("mlci train: error: model.command `")
    assert "exited with code 3" in line and "something went wrong in epoch 3" in line
    assert "train-" in line and ".log" in line
    assert not (tmp_path / "p" / ".mlci" / "runs" / "LATEST").exists()


def test_script_past_its_timeout_is_stopped(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", params={"sleep": 30}, extra='"train": {"timeout": 1}')
    r = mlci("train", "-c", cfg, timeout=60)
    assert r.returncode == 2
    assert "timed out after 1s (train.timeout) and was stopped" in r.stderr


def test_output_without_predict_entry_point_breaks_the_contract(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", params={"no_predict": True})
    r = mlci("train", "-c", cfg)
    assert r.returncode == 2
    assert "no predict.py in MLCI_OUTPUT_DIR" in r.stderr and "centroids.json" in r.stderr


def test_broken_predict_fails_training_not_serving(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    (tmp_path / "p" / "predict.py").write_text(PREDICT.replace("return np.asarray(model[\"classes\"])",
                                                               "return np.asarray(['x', 'y'])"))
    r = mlci("train", "-c", cfg)
    assert r.returncode == 2
    assert "predict() returned" in r.stderr and "not among the classes" in r.stderr


def test_command_runs_without_a_shell(tmp_path, mlci):
    marker = tmp_path / "p" / "pwned"
    cfg = make_project(tmp_path / "p", command=f"python train.py ; touch {marker}")
    r = mlci("train", "-c", cfg)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()


def test_unknown_program_is_a_config_error(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", command="no-such-trainer-xyz --epochs 3")
    r = mlci("train", "-c", cfg)
    assert r.returncode == 2
    assert "model.command: `no-such-trainer-xyz` not found on PATH" in r.stderr


def test_sklearn_models_still_load_through_load_any(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from mlci import model as model_io

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    pipe = Pipeline([("model", LogisticRegression())]).fit(X, [0, 0, 1, 1])
    model_io.save(pipe, tmp_path / "m", {"inputs": [{"name": "a", "dtype": "float64"}]})
    loaded = model_io.load_any(tmp_path / "m")
    assert type(loaded).__name__ == "Pipeline" and loaded.predict(X).tolist() == [0, 0, 1, 1]


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch-tabular"


def test_torch_example_trains_on_cpu_and_is_blessed(tmp_path, mlci):
    # torch is not a CI dependency (no part of tests/setup.sh or the test extra installs it):
    # this test skips without it even under MLCI_REQUIRE_SERVICES=1, on purpose
    pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
    import shutil
    import subprocess
    import sys

    project = tmp_path / "torch-tabular"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("data", ".mlci", "__pycache__"))
    subprocess.run([sys.executable, str(project / "make_data.py")], check=True, capture_output=True)
    r = mlci("train", "-c", project / "mlci.yaml", "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    assert "epoch  150/150 loss" in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "trained" and out["device"] == "cpu"
    run_dir = project / ".mlci" / "runs" / out["run_id"]
    assert sorted(json.loads((run_dir / "model" / "MLmodel.json").read_text())["files"]) == [
        "model.json", "predict.py", "signature.json", "weights.pt"]
    r = mlci("evaluate", "-c", project / "mlci.yaml", "--json")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)["metrics"]
    assert metrics["roc_auc"] >= 0.97 and metrics["accuracy"] >= 0.93




def test_train_in_container_on_cpu_gives_the_same_run_as_the_host(tmp_path, mlci):
    """The offline base image has python3 only: this checkout's package and the host's
    libraries (same Python minor version) are mounted read-only through train.container."""
    docker_client(registry=False)
    import sysconfig

    from conftest import PYTHON_SRC

    site = sysconfig.get_paths()["purelib"]
    container = {"volumes": [f"{PYTHON_SRC}:/opt/mlci-src:ro", f"{site}:/opt/site:ro"],
                 "env": {"PYTHONPATH": "/opt/mlci-src:/opt/site"}}
    extra = '"train": ' + json.dumps({"container": container})
    cfg = make_project(tmp_path / "p", extra=extra)
    r = mlci("train", "-c", cfg, "--in-container", "--image", BASE, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"training in {BASE}" in r.stderr
    assert "training on 120 rows" in r.stderr  # the script's output, streamed from the container
    out = json.loads(r.stdout)
    assert out["status"] == "trained"
    run_dir = tmp_path / "p" / ".mlci" / "runs" / out["run_id"]
    assert (run_dir / "model" / "MLmodel.json").is_file()
    assert run_dir.stat().st_uid == __import__("os").getuid()
    # the host sees the container's training as its own: same fingerprint, nothing to redo
    again = mlci("train", "-c", cfg, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "up to date"
    assert json.loads(again.stdout)["run_id"] == out["run_id"]
    r = mlci("evaluate", "-c", cfg)
    assert r.returncode == 0, r.stderr


def test_pipeline_trains_in_container_from_config_and_reports_the_inner_failure(tmp_path, mlci):
    """train.in_container: true makes `mlci run` train in the image too; the script's failure
    inside comes back as the same one-line error and exit code."""
    docker_client(registry=False)
    import sysconfig

    from conftest import PYTHON_SRC

    site = sysconfig.get_paths()["purelib"]
    train = {"in_container": True, "container": {
        "image": BASE, "volumes": [f"{PYTHON_SRC}:/opt/mlci-src:ro", f"{site}:/opt/site:ro"],
        "env": {"PYTHONPATH": "/opt/mlci-src:/opt/site"}}}
    cfg = make_project(tmp_path / "p", params={"fail": 3}, extra='"train": ' + json.dumps(train))
    r = mlci("run", "-c", cfg, "--json", timeout=300)
    assert r.returncode == 2, r.stderr
    stages = {s["stage"]: s for s in json.loads(r.stdout)["stages"]}
    assert stages["train"]["status"] == "failed" and stages["train"]["exit_code"] == 2
    assert "exited with code 3" in stages["train"]["detail"]
    assert "something went wrong in epoch 3" in stages["train"]["detail"]


def test_in_container_with_a_missing_image_is_a_clear_error(tmp_path, mlci):
    docker_client(registry=False)
    cfg = make_project(tmp_path / "p")
    r = mlci("train", "-c", cfg, "--in-container", "--image", "mlci-test/no-such-image:1")
    assert r.returncode == 2
    assert "image mlci-test/no-such-image:1 is not on this host and cannot be pulled" in r.stderr
