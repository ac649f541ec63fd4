"""The model directory: saved compactly, loaded only after its checksums verify."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from mlci import model as model_io  # the model directory format
from mlci.errors import IntegrityError


@pytest.fixture(scope="module")
def forest():
    X, y = load_breast_cancer(return_X_y=True)
    return RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y), X


def test_saved_model_loads_back_with_the_same_predictions_and_a_compact_schema(tmp_path, forest):
    model, X = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    with zipfile.ZipFile(tmp_path / "m" / "model.skops") as z:
        schema = z.read("schema.json").decode()
    assert "\n" not in schema and json.loads(schema)["__class__"] == "RandomForestClassifier"
    back = model_io.load(tmp_path / "m")
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_the_same_training_saves_byte_identical_model_files(tmp_path, forest, monkeypatch):
    """The same fit saves the same bytes: skops' object ids (memory addresses) and the zip's
    timestamps would make every save differ, so a retrain of unchanged inputs would upload a
    new blob and could not be checked by its sha256."""
    import time

    from mlci.util import sha256_file

    _, X = forest
    y = load_breast_cancer().target
    first = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    model_io.save(first, tmp_path / "a", {"inputs": [], "task": "classification"})
    later = time.time() + 86400 * 400  # saved on another day
    monkeypatch.setattr(time, "time", lambda: later)
    keep = [np.zeros(1000) for _ in range(100)]  # other objects at other addresses
    second = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    model_io.save(second, tmp_path / "b", {"inputs": [], "task": "classification"})
    assert sha256_file(tmp_path / "a" / "model.skops") == sha256_file(tmp_path / "b" / "model.skops")
    back = model_io.load(tmp_path / "b")
    assert np.array_equal(back.predict_proba(X), first.predict_proba(X)) and len(keep) == 100


def test_without_the_skops_internals_it_falls_back_to_skops_own_dump(tmp_path, forest, monkeypatch):
    model, X = forest

    def moved(*args):
        raise AttributeError("module 'skops.io._persist' has no attribute 'SaveContext'")

    monkeypatch.setattr("mlci.model.skops._dump_compact", moved)
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    with zipfile.ZipFile(tmp_path / "m" / "model.skops") as z:
        assert "\n" in z.read("schema.json").decode()  # skops' indented schema
    assert np.array_equal(model_io.load(tmp_path / "m").predict(X), model.predict(X))


def test_without_the_skops_internals_it_parses_with_skops_own_calls(tmp_path, forest, monkeypatch):
    import sys

    model, X = forest
    monkeypatch.setitem(sys.modules, "skops.io._audit", None)  # `from skops.io._audit import ...` fails
    meta = model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    assert "sklearn.ensemble._forest.RandomForestClassifier" in meta["types"]
    assert np.array_equal(model_io.load(tmp_path / "m").predict_proba(X), model.predict_proba(X))


def test_a_changed_model_file_is_refused_before_loading(tmp_path, forest):
    model, _ = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    with (tmp_path / "m" / "model.skops").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="model.skops: checksum mismatch"):
        model_io.load(tmp_path / "m")


def test_loading_a_model_imports_only_the_scikit_learn_it_needs(tmp_path, forest):
    """skops' import-time scan of all of scikit-learn (about 2 s per command) is skipped."""
    import subprocess
    import sys

    from conftest import cli_env

    model, _ = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    code = ("import sys, pathlib; from mlci import model; model.load(pathlib.Path(sys.argv[1])); "
            "print(sorted(m for m in ('sklearn.neural_network', 'sklearn.gaussian_process', 'sklearn.naive_bayes', "
            "'sklearn.ensemble') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], env=cli_env(), capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == "['sklearn.ensemble']"


def test_the_module_a_sweeps_fork_server_preloads_imports_skops_without_its_scan():
    """A preload list names modules; `import skops.io` there would scan all of scikit-learn."""
    import subprocess
    import sys

    from conftest import cli_env
    from mlci.sweep import PRELOAD

    assert "skops.io" not in PRELOAD and "mlci.model.skops_loaded" in PRELOAD
    code = ("import sys, mlci.model.skops_loaded; "
            "print('skops.io' in sys.modules, 'sklearn.neural_network' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["True", "False"]


# --- crafted model files: nothing outside the allow-list is constructed or called -------------

def _json_str(text):
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(text), "is_json": True, "__id__": 1}


def _reduce(module, cls, args):
    """A skops node that makes skops call ``module.cls(*args)`` on load."""
    return {"__class__": cls, "__module__": module, "__loader__": "TreeNode",
            "__reduce__": {"args": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                                    "content": args, "__id__": 2}},
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                     "__loader__": "ListNode", "content": [], "__id__": 4},
                        "__id__": 3},
            "__id__": 5, "protocol": 2, "_skops_version": "0.16.0"}


def _craft(directory, schema):
    """Replace a saved model's schema and rewrite MLmodel.json's checksums, as anyone who can
    write the store can: checksums alone do not stop a crafted file."""
    from mlci.model.files import write_meta

    path = directory / "model.skops"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    meta = json.loads((directory / "MLmodel.json").read_text())
    meta.pop("files")
    meta["types"] = sorted({schema["__module__"] + "." + schema["__class__"], *meta.get("types", [])})
    write_meta(directory, meta)


@pytest.mark.parametrize("module, function", [("builtins", "exec"), ("sklearn.utils._testing", "check_output")])
def test_a_crafted_model_naming_a_function_is_refused_and_runs_nothing(tmp_path, forest, module, function):
    model, _ = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    marker = tmp_path / "pwned"
    if function == "exec":
        args = [_json_str(f"open({str(marker)!r}, 'w').write('x')")]
    else:
        args = [{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "__id__": 6,
                 "content": [_json_str("touch"), _json_str(str(marker))]}]
    _craft(tmp_path / "m", _reduce(module, function, args))
    with pytest.raises(IntegrityError, match=f"refusing to load types {module}.{function}: not on mlci's allow-list"):
        model_io.load(tmp_path / "m")
    with pytest.raises(IntegrityError):
        model_io.load_any(tmp_path / "m")
    assert not marker.exists()


def test_an_allowed_estimator_built_with_a_hostile_function_is_refused(tmp_path, forest):
    """FunctionTransformer is an estimator (allowed by name); its argument is builtins.eval."""
    model, _ = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    hostile = {"__class__": "eval", "__module__": "builtins", "__loader__": "FunctionNode", "__id__": 7}
    _craft(tmp_path / "m", _reduce("sklearn.preprocessing._function_transformer", "FunctionTransformer", [hostile]))
    with pytest.raises(IntegrityError, match="refusing to load types builtins.eval"):
        model_io.load(tmp_path / "m")


def test_an_allowed_type_with_malformed_arguments_is_a_clean_error(tmp_path, forest):
    model, _ = forest
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    _craft(tmp_path / "m", _reduce("sklearn.tree._tree", "Tree", [_json_str("not a number")]))
    with pytest.raises(IntegrityError, match="model.skops: cannot be loaded"):
        model_io.load(tmp_path / "m")


def test_saving_refuses_a_model_that_loading_would_refuse(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    from mlci.errors import ConfigError

    with pytest.raises(ConfigError, match="model.trusted_types: the model holds builtins.abs"):
        model_io.save(FunctionTransformer(func=abs).fit([[1.0]]), tmp_path / "m", {"inputs": []})
    assert not (tmp_path / "m" / "model.skops").exists()
    model_io.save(FunctionTransformer(func=abs).fit([[1.0]]), tmp_path / "t", {"inputs": []},
                  trusted=["builtins.abs"])
    assert model_io.load(tmp_path / "t", trusted=["builtins.abs"]).transform(np.array([[-2.0]])).tolist() == [[2.0]]


def test_the_types_a_model_needs_are_recorded_when_it_is_saved(tmp_path, forest):
    model, _ = forest
    meta = model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    assert meta["types"] == ["sklearn.ensemble._forest.RandomForestClassifier",
                             "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._tree.Tree"]
    assert json.loads((tmp_path / "m" / "MLmodel.json").read_text())["types"] == meta["types"]


# A classifier from the project's own code: any type skops would have to construct that is not
# scikit-learn, numpy, scipy or a builtin must be listed in model.trusted_types. Constructing it
# from the file (skops calls __setstate__) leaves a marker, so "nothing was built" is checked.
MARKER_MODULE = '''\
import os
from sklearn.linear_model import LogisticRegression


class MarkerClassifier(LogisticRegression):
    def __setstate__(self, state):
        marker = os.environ.get("MLCI_TEST_MARKER")
        if marker:
            open(marker, "a").write("constructed\\n")
        super().__setstate__(state)
'''


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "marker_model.py").write_text(MARKER_MODULE)
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.setenv("MLCI_TEST_MARKER", str(tmp_path / "constructed"))
    yield lib
    import sys
    sys.modules.pop("marker_model", None)


def test_a_model_with_an_untrusted_type_is_refused_and_nothing_is_constructed(tmp_path, marker_module):
    from marker_model import MarkerClassifier

    X, y = load_breast_cancer(return_X_y=True)
    model_io.save(MarkerClassifier(max_iter=5000).fit(X[:, :3], y), tmp_path / "m",
                  {"inputs": [], "task": "classification"}, trusted=["marker_model.MarkerClassifier"])
    with pytest.raises(IntegrityError, match=r"refusing to load types marker_model\.MarkerClassifier: "
                                             r"not on mlci's allow-list \(list them in model\.trusted_types"):
        model_io.load(tmp_path / "m")
    with pytest.raises(IntegrityError, match="refusing to load types marker_model.MarkerClassifier"):
        model_io.load_any(tmp_path / "m", trusted=["marker_model.Other"])
    assert not (tmp_path / "constructed").exists()
    # listed as trusted, the same file loads (and the marker shows construction is visible)
    back = model_io.load(tmp_path / "m", trusted=["marker_model.MarkerClassifier"])
    assert type(back).__name__ == "MarkerClassifier"
    assert (tmp_path / "constructed").read_text() == "constructed\n"


def test_evaluate_refuses_an_untrusted_model_with_exit_2_and_one_line(tmp_path, mlci, marker_module):
    from conftest import PYTHON_SRC
    from projects import classification_project

    project = tmp_path / "p"
    model = {"estimator": "marker_model.MarkerClassifier", "params": {"max_iter": 5000}}
    classification_project(project, model={**model, "trusted_types": ["marker_model.MarkerClassifier"]},
                           evaluate={"metrics": ["accuracy"], "gates": []})
    env = {"PYTHONPATH": f"{PYTHON_SRC}:{marker_module}", "MLCI_TEST_MARKER": ""}
    r = mlci("train", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    # the model file is the same; whoever evaluates it now does not trust the type
    classification_project(project, model=model, evaluate={"metrics": ["accuracy"], "gates": []})
    r = mlci("evaluate", cwd=project, env={**env, "MLCI_TEST_MARKER": str(tmp_path / "constructed")})
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("mlci evaluate: error: ") and line.endswith(
        "model/model.skops: refusing to load types marker_model.MarkerClassifier: not on mlci's allow-list "
        "(list them in model.trusted_types only if you know them to be inert)")
    assert not (tmp_path / "constructed").exists()
    assert not list(project.glob(".mlci/runs/*/evaluation.json"))


def test_a_saved_model_is_parsed_once_and_the_same_files_again_give_the_same_model(tmp_path, forest,
                                                                                   monkeypatch):
    """Each parse of a skops file builds skops' whole tree (its type audit and its load each
    parse it). Saving parses the file once; loading it next builds it from that parse; loading
    the same verified files again (evaluate, then the report, in one `mlci run`) parses nothing."""
    from skops.io import _audit, _persist

    model, X = forest
    parses = []
    for where in (_audit, _persist):
        real = where.get_tree
        monkeypatch.setattr(where, "get_tree", lambda *a, _real=real, **k: parses.append(1) or _real(*a, **k))
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    assert len(parses) == 1
    first = model_io.load(tmp_path / "m")
    assert len(parses) == 1
    assert np.array_equal(first.predict_proba(X), model.predict_proba(X))
    assert model_io.load(tmp_path / "m") is first and len(parses) == 1
    other = model_io.load(tmp_path / "m", trusted=["numpy.float64"])  # other trusted types: checked anew
    assert other is not first and len(parses) == 2
    assert np.array_equal(other.predict_proba(X), model.predict_proba(X))
    with (tmp_path / "m" / "model.skops").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="checksum mismatch"):  # still verified on every load
        model_io.load(tmp_path / "m")
