"""`mlci run` and the single stages: skipping unchanged work, partial reruns, determinism."""

import json
from pathlib import Path

import pandas as pd

from projects import classification_project, regression_project, write_config
import yaml


def stages(result) -> dict[str, str]:
    out = json.loads(result.stdout)
    return {s["stage"]: s["status"] for s in out["stages"]}


def test_first_run_registers_a_blessed_model_then_everything_is_up_to_date(tmp_path, mlci):
    classification_project(tmp_path)
    first = mlci("run", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert stages(first) == {"validate": "ran", "train": "ran", "evaluate": "ran", "publish": "ran"}
    listing = mlci("registry", "list", "bc", "--json", cwd=tmp_path)
    versions = json.loads(listing.stdout)
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["blessed"] is True

    second = mlci("run", "--json", cwd=tmp_path)
    assert second.returncode == 0
    assert set(stages(second).values()) == {"up to date"}
    assert "everything up to date" not in second.stdout  # machine output stays clean
    human = mlci("run", cwd=tmp_path)
    assert "everything up to date" in human.stderr


def test_changing_one_param_reruns_train_and_after_but_not_validate(tmp_path, mlci):
    cfg_path = classification_project(tmp_path)
    assert mlci("run", cwd=tmp_path).returncode == 0
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"]["params"]["n_estimators"] = 21
    write_config(tmp_path, cfg)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert stages(r) == {"validate": "up to date", "train": "ran", "evaluate": "ran", "publish": "ran"}
    versions = json.loads(mlci("registry", "list", "bc", "--json", cwd=tmp_path).stdout)
    assert [v["version"] for v in versions] == [2, 1]  # newest first


def test_changing_one_data_row_reruns_everything(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("run", cwd=tmp_path).returncode == 0
    data = tmp_path / "data" / "train.csv"
    frame = pd.read_csv(data)
    frame.loc[3, "mean_radius"] += 0.5
    frame.to_csv(data, index=False)
    r = mlci("run", "--json", cwd=tmp_path)
    assert stages(r) == {"validate": "ran", "train": "ran", "evaluate": "ran", "publish": "ran"}


def test_changing_a_gate_reruns_only_evaluate(tmp_path, mlci):
    cfg_path = classification_project(tmp_path)
    assert mlci("run", cwd=tmp_path).returncode == 0
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["evaluate"]["gates"][0]["threshold"] = 0.91
    write_config(tmp_path, cfg)
    r = mlci("run", "--json", cwd=tmp_path)
    assert stages(r)["train"] == "up to date"
    assert stages(r)["evaluate"] == "ran"


def test_force_reruns_every_stage(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("run", cwd=tmp_path).returncode == 0
    r = mlci("run", "--force", "--json", cwd=tmp_path)
    assert stages(r)["validate"] == "ran" and stages(r)["train"] == "ran" and stages(r)["evaluate"] == "ran"
    # same fingerprint: the registry does not get a second version
    assert "already registered" in json.loads(r.stdout)["stages"][-1]["detail"]


def test_same_seed_gives_identical_predictions(tmp_path, mlci):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        classification_project(root)
        assert mlci("train", cwd=root).returncode == 0
        assert mlci("evaluate", cwd=root).returncode == 0
    pa = pd.read_parquet(next((a / ".mlci" / "runs").glob("*/predictions.parquet")))
    pb = pd.read_parquet(next((b / ".mlci" / "runs").glob("*/predictions.parquet")))
    pd.testing.assert_frame_equal(pa, pb)


def test_different_seed_changes_the_model(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("train", cwd=tmp_path).returncode == 0
    classification_project(tmp_path, split={"test_size": 0.25, "seed": 8})
    assert mlci("train", cwd=tmp_path).returncode == 0
    assert len(list((tmp_path / ".mlci" / "runs").glob("*/run.json"))) == 2


def test_stages_run_alone_and_hand_off_through_the_run_dir(tmp_path, mlci):
    classification_project(tmp_path)
    t = mlci("train", "--json", cwd=tmp_path)
    assert t.returncode == 0, t.stderr
    run_id = json.loads(t.stdout)["run_id"]
    run_dir = tmp_path / ".mlci" / "runs" / run_id
    assert (run_dir / "model" / "model.skops").is_file()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["params"]["n_estimators"] == 20 and info["params"]["random_state"] == 7
    assert info["data"]["train"]["sha256"] and info["versions"]["scikit-learn"]
    signature = json.loads((run_dir / "model" / "signature.json").read_text())
    assert signature["classes"] == [0, 1]
    assert "patient_id" not in [c["name"] for c in signature["inputs"]]
    e = mlci("evaluate", "--json", cwd=tmp_path)
    assert e.returncode == 0
    assert json.loads(e.stdout)["blessed"] is True
    p = mlci("publish", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["version"] == 1


def test_gate_failure_stops_before_publish_with_exit_1(tmp_path, mlci):
    classification_project(tmp_path, evaluate={"gates": [{"metric": "roc_auc", "threshold": 0.9999}]})
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 1
    s = stages(r)
    assert s["evaluate"] == "failed" and "publish" not in s
    detail = json.loads(r.stdout)["stages"][-1]["detail"]
    assert "roc_auc" in detail and "fails threshold >= 0.9999" in detail
    assert json.loads(r.stdout)["failures"] == [{"name": "evaluate", "detail": detail}]
    assert mlci("registry", "list", "bc", cwd=tmp_path).returncode == 2  # nothing registered


def test_regression_with_parquet_and_a_categorical_column(tmp_path, mlci):
    regression_project(tmp_path)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = next((tmp_path / ".mlci" / "runs").glob("*/run.json")).parent
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2", "mape"}
    assert metrics["r2"] > 0.2
    info = json.loads((run_dir / "run.json").read_text())
    assert info["categorical"] == ["sex"]


def evaluation_of(root, result) -> dict:
    """evaluation.json of the run that `mlci run --json` just made."""
    run_id = next(s for s in json.loads(result.stdout)["stages"] if s["stage"] == "train")["data"]["run_id"]
    return json.loads((root / ".mlci" / "runs" / run_id / "evaluation.json").read_text())


def test_second_model_is_compared_with_production(tmp_path, mlci):
    cfg_path = classification_project(tmp_path)
    assert mlci("run", "--promote", cwd=tmp_path).returncode == 0
    production = json.loads(mlci("registry", "show", "bc@production", "--json", cwd=tmp_path).stdout)
    production_f1 = next(g["value"] for g in production["gates"] if g["metric"] == "f1")

    # a deeper forest: scored against v1 on the same test rows, within the allowed regression
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"]["params"]["max_depth"] = 5
    write_config(tmp_path, cfg)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    evaluation = evaluation_of(tmp_path, r)
    assert (evaluation["baseline"]["alias"], evaluation["baseline"]["version"]) == ("production", 1)
    assert evaluation["baseline"]["metrics"]["f1"] == production_f1
    gate = next(g for g in evaluation["gates"] if g["kind"] == "max_regression")
    assert (gate["value"], gate["baseline"]) == (evaluation["metrics"]["f1"], production_f1)
    assert gate["passed"] is True and gate["value"] >= production_f1 - 0.05

    # one stump: more than 0.01 worse in f1 than production (v1, not the newer v2), so not blessed
    cfg["model"]["params"] = {"n_estimators": 1, "max_depth": 1}
    cfg["evaluate"]["gates"] = [{"metric": "f1", "max_regression": 0.01}]
    write_config(tmp_path, cfg)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 1
    assert stages(r)["evaluate"] == "failed" and "publish" not in stages(r)
    evaluation = evaluation_of(tmp_path, r)
    assert evaluation["baseline"]["version"] == 1 and evaluation["blessed"] is False
    (gate,) = evaluation["gates"]
    assert gate["baseline"] == production_f1 and gate["value"] < production_f1 - 0.01
    assert gate["passed"] is False
    assert evaluation["failed"] == [gate["reason"]]
    assert f"regression {production_f1 - gate['value']:.4f} (allowed 0.01)" in gate["reason"]
    versions = json.loads(mlci("registry", "list", "bc", "--json", cwd=tmp_path).stdout)
    assert [v["version"] for v in versions] == [2, 1]  # newest first


def test_a_rerun_after_promote_does_not_compare_the_model_with_itself(tmp_path, mlci):
    classification_project(tmp_path)
    first = mlci("run", "--promote", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert stages(first)["promote"] == "ran"

    # production is now this very model: the evaluation's inputs have not changed
    again = mlci("run", "--promote", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert set(stages(again).values()) == {"up to date"}

    # evaluated again on purpose, the candidate still has no baseline (not v1 = itself)
    forced = mlci("run", "--force", "--json", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert stages(forced)["evaluate"] == "ran"
    evaluation = evaluation_of(tmp_path, forced)
    assert evaluation["baseline"] is None and evaluation["blessed"] is True
    gate = next(g for g in evaluation["gates"] if g["kind"] == "max_regression")
    assert gate["passed"] is None and gate["baseline"] is None
    assert gate["reason"] == "f1: no baseline to compare with; max_regression skipped"
    summary = (Path(json.loads(forced.stdout)["report"]).parent / "summary.md").read_text()
    assert "This run is production (v1) itself: nothing to compare with." in summary
    assert "| metric | production | candidate |" in summary
    shown = json.loads(mlci("registry", "show", "bc@production", "--json", cwd=tmp_path).stdout)
    assert shown["version"] == 1 and shown["baseline"] is None


def test_tool_caches_and_the_workspace_do_not_change_the_code_version(tmp_path, mlci):
    classification_project(tmp_path)
    (tmp_path / "features.py").write_text("def f(x):\n    return x\n")
    assert mlci("train", cwd=tmp_path).returncode == 0
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "features.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / ".pytest_cache").mkdir()
    (tmp_path / ".pytest_cache" / "x").write_text("y")
    r = mlci("train", "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["status"] == "up to date"
    (tmp_path / "features.py").write_text("def f(x):\n    return x + 1\n")
    r = mlci("train", "--json", cwd=tmp_path)
    assert json.loads(r.stdout)["status"] == "trained"


def test_new_data_is_checked_for_drift_against_the_production_model(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("run", "--promote", cwd=tmp_path).returncode == 0
    data = tmp_path / "data" / "train.csv"
    frame = pd.read_csv(data)
    features = [c for c in frame.columns if c not in ("diagnosis", "patient_id")]
    frame[features] = frame[features] * 3.0  # every feature shifted: dataset drift
    frame.to_csv(data, index=False)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 1
    validate = json.loads(r.stdout)["stages"][0]
    assert validate["stage"] == "validate" and validate["status"] == "failed"
    assert "drift" in validate["detail"]
    results = [json.loads(p.read_text()) for p in (tmp_path / ".mlci" / "cache" / "validate").glob("*/validation.json")]
    assert [r.get("drift_reference") for r in results if not r["passed"]] == ["bc v1 (training data statistics)"]
    # The single stage Jenkins' mlciValidate calls measures drift against the same production model.
    r = mlci("validate", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["drift_reference"] == "bc v1 (training data statistics)"
    assert any(c["drifted"] for c in out["datasets"][0]["drift"]["columns"])


def test_validate_skips_production_drift_on_the_data_production_was_trained_on(tmp_path, mlci):
    classification_project(tmp_path)
    assert mlci("run", "--promote", cwd=tmp_path).returncode == 0
    r = mlci("validate", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "drift_reference" not in out and not out["datasets"][0].get("drift")
