"""mlci sweep and forests: candidates that differ only in a forest's n_estimators share one fit
(the first k trees of the largest forest are the forest with n_estimators=k), and each such
candidate is the same model, predictions and metrics as `mlci train` of its config."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def make_project(root: Path, params: dict) -> Path:
    rng = np.random.default_rng(1)
    n = 200
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    y = ((x1 > 0) ^ (x2 > 0.5)).astype(int)
    (root / "data").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"x1": x1, "x2": x2, "y": y}).to_csv(root / "data" / "train.csv", index=False)
    cfg = {
        "name": "forest", "task": "classification",
        "data": {"train": "data/train.csv", "target": "y"},
        "model": {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": params},
        "evaluate": {"metrics": ["accuracy", "log_loss"], "baseline": None,
                     "gates": [{"metric": "accuracy", "threshold": 0.5}]},
    }
    (root / "mlci.yaml").write_text(json.dumps(cfg, indent=1))
    return root / "mlci.yaml"


def sweep(mlci, cfg: Path, grid: dict, jobs: int = 1) -> dict:
    (cfg.parent / "grid.yaml").write_text(json.dumps(grid))
    r = mlci("sweep", "-c", cfg, "--grid", cfg.parent / "grid.yaml", "--jobs", str(jobs), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def model_content(model_file: Path) -> str:
    """The model file's sha256: the same fit saves the same bytes (mlci.model.skops)."""
    return hashlib.sha256(model_file.read_bytes()).hexdigest()


def run_dir(cfg: Path, run_id: str) -> Path:
    return cfg.parent / ".mlci" / "runs" / run_id


def test_a_smaller_forest_takes_the_first_trees_of_its_siblings_fit_and_is_the_same_model(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", {"random_state": 0})
    result = sweep(mlci, cfg, {"model.params.n_estimators": [3, 5], "model.params.max_depth": [2, 3]}, jobs=2)
    by_label = {c["label"]: c for c in result["candidates"]}
    assert {c["status"] for c in result["candidates"]} == {"ok"}
    derived = by_label["n_estimators=3 max_depth=3"]
    sibling = by_label["n_estimators=5 max_depth=3"]
    assert derived["trees_from"] == sibling["run_id"]
    assert by_label["n_estimators=3 max_depth=2"]["trees_from"] == by_label["n_estimators=5 max_depth=2"]["run_id"]
    assert "trees_from" not in sibling
    record = json.loads((run_dir(cfg, derived["run_id"]) / "run.json").read_text())
    assert record["params"]["n_estimators"] == 3
    assert record["trees_from"]["run_id"] == sibling["run_id"] and record["trees_from"]["n_estimators"] == 5
    assert "trees_from" not in json.loads((run_dir(cfg, sibling["run_id"]) / "run.json").read_text())

    # the same config trained directly, in another copy of the project
    direct = make_project(tmp_path / "direct", {"random_state": 0, "n_estimators": 3, "max_depth": 3})
    r = mlci("train", "-c", direct)
    assert r.returncode == 0, r.stderr
    assert mlci("evaluate", "-c", direct).returncode == 0
    run_id = (tmp_path / "direct" / ".mlci" / "runs" / "LATEST").read_text().strip()
    assert run_id == derived["run_id"]
    ours, theirs = run_dir(cfg, run_id), run_dir(direct, run_id)
    assert model_content(ours / "model" / "model.skops") == model_content(theirs / "model" / "model.skops")
    assert (ours / "model" / "signature.json").read_bytes() == (theirs / "model" / "signature.json").read_bytes()
    assert json.loads((ours / "model" / "MLmodel.json").read_text())["types"] == \
        json.loads((theirs / "model" / "MLmodel.json").read_text())["types"]
    pd.testing.assert_frame_equal(pd.read_parquet(ours / "predictions.parquet"),
                                  pd.read_parquet(theirs / "predictions.parquet"))
    assert json.loads((ours / "metrics.json").read_text()) == json.loads((theirs / "metrics.json").read_text())
    assert (ours / "test.parquet").read_bytes() == (theirs / "test.parquet").read_bytes()
    assert (ours / "reference_stats.json").read_bytes() == (theirs / "reference_stats.json").read_bytes()
    # the sibling's own forest is not a derived one: 5 trees, as trained directly
    assert model_content(ours / "model" / "model.skops") != model_content(
        run_dir(cfg, sibling["run_id"]) / "model" / "model.skops")


def test_forests_with_oob_score_or_warm_start_are_trained_each_on_their_own(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", {"random_state": 0, "max_depth": 3})
    result = sweep(mlci, cfg, {"model.params.oob_score": [True, False], "model.params.n_estimators": [5, 3]})
    by_label = {c["label"]: c for c in result["candidates"]}
    assert {c["status"] for c in result["candidates"]} == {"ok"}
    assert "trees_from" not in by_label["oob_score=True n_estimators=3"]
    assert by_label["oob_score=False n_estimators=3"]["trees_from"] == by_label["oob_score=False n_estimators=5"]["run_id"]

    shutil.rmtree(tmp_path / "p" / ".mlci")
    result = sweep(mlci, cfg, {"model.params.warm_start": [True], "model.params.n_estimators": [5, 3]})
    assert [c.get("trees_from") for c in result["candidates"]] == [None, None]
    for c in result["candidates"]:
        record = json.loads((run_dir(cfg, c["run_id"]) / "run.json").read_text())
        assert "trees_from" not in record and record["timings_s"]["fit"] > 0


def test_candidates_on_other_rows_get_their_own_reference_statistics(tmp_path, mlci):
    """The reference statistics are computed once per training set in a sweep's process: a
    candidate split with another seed trains on other rows and gets its own."""
    cfg = make_project(tmp_path / "p", {"random_state": 0, "n_estimators": 3})
    result = sweep(mlci, cfg, {"split.seed": [1, 2], "model.params.max_depth": [2, 3]})
    stats = {c["label"]: (run_dir(cfg, c["run_id"]) / "reference_stats.json").read_bytes()
             for c in result["candidates"]}
    assert stats["split.seed=1 max_depth=2"] == stats["split.seed=1 max_depth=3"]
    assert stats["split.seed=2 max_depth=2"] == stats["split.seed=2 max_depth=3"]
    assert stats["split.seed=1 max_depth=2"] != stats["split.seed=2 max_depth=2"]

