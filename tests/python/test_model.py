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


def test_without_the_skops_internals_it_falls_back_to_skops_own_dump(tmp_path, forest, monkeypatch):
    model, X = forest

    def moved(*args):
        raise AttributeError("module 'skops.io._persist' has no attribute 'SaveContext'")

    monkeypatch.setattr("mlci.model.skops._dump_compact", moved)
    model_io.save(model, tmp_path / "m", {"inputs": [], "task": "classification"})
    with zipfile.ZipFile(tmp_path / "m" / "model.skops") as z:
        assert "\n" in z.read("schema.json").decode()  # skops' indented schema
    assert np.array_equal(model_io.load(tmp_path / "m").predict(X), model.predict(X))


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
