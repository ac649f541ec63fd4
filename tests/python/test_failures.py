"""Every command's --json result carries `failures: [{name, detail}]` (mlci.results): the
failing gate, rule, check or stage when it exits 1, an empty list when nothing failed. The
Jenkins steps read only this key to say what failed.

Commands whose exit 1 needs Docker or prediction logs are checked where those run:
image verify/push in test_image.py, monitor drift in test_monitor.py; promote (printed by
the CLI edge) in test_registry.py; `mlci run` in test_pipeline.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from projects import breast_cancer_frame, classification_project


def result(r) -> dict:  # noqa: ANN001
    assert r.stdout.strip(), f"no JSON on stdout (exit {r.returncode})\nstderr:\n{r.stderr}"
    out = json.loads(r.stdout)
    assert isinstance(out["failures"], list)
    for f in out["failures"]:
        assert set(f) == {"name", "detail"} and f["name"] and "\n" not in f["detail"]
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project trained, evaluated (blessed) and published once; tests copy it."""
    from conftest import run_cli

    root = tmp_path_factory.mktemp("trained")
    classification_project(root)
    for words in (["train", "--json"], ["evaluate", "--json"], ["publish", "--json"], ["report", "--json"]):
        r = run_cli(*words, cwd=root)
        assert r.returncode == 0, r.stderr
        assert result(r)["failures"] == [], words
    return root


def copy(trained: Path, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(trained, root)
    return root


def set_config(root: Path, **changes) -> None:  # noqa: ANN003
    cfg = yaml.safe_load((root / "mlci.yaml").read_text())
    cfg.update(changes)
    (root / "mlci.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_evaluate_names_the_gate_that_was_not_met(trained, tmp_path, mlci):
    root = copy(trained, tmp_path)
    set_config(root, evaluate={"metrics": ["accuracy", "roc_auc"],
                               "gates": [{"metric": "roc_auc", "threshold": 0.9999},
                                         {"metric": "accuracy", "threshold": 0.5}]})
    r = mlci("evaluate", "--json", cwd=root)
    assert r.returncode == 1, r.stderr
    failures = result(r)["failures"]
    assert [f["name"] for f in failures] == ["roc_auc threshold"]
    assert "fails threshold >= 0.9999" in failures[0]["detail"]


def test_validate_names_the_rule_and_the_drifted_column(tmp_path, mlci):
    data = breast_cancer_frame(200)
    data.to_csv(tmp_path / "new.csv", index=False)
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(
        {"columns": {"mean_radius": {"max": 15}, "mean_texture": {"max": 100, "severity": "warn"}}}))
    r = mlci("validate", "--data", tmp_path / "new.csv", "--schema", tmp_path / "schema.yaml", "--json",
             "--out", tmp_path / "v", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    failures = result(r)["failures"]
    assert [f["name"] for f in failures] == ["mean_radius.max"]
    assert failures[0]["detail"].startswith("data: ") and "above the maximum 15" in failures[0]["detail"]

    reference = breast_cancer_frame()
    reference.to_csv(tmp_path / "ref.csv", index=False)
    shifted = reference.assign(mean_area=reference["mean_area"] * 3)
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "bc", "task": "classification",
        "data": {"train": "shifted.csv", "target": "diagnosis", "reference": "ref.csv"},
        "validate": {"drift": {"fail_on": "column", "exclude": ["patient_id"]}}}))
    r = mlci("validate", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    failures = result(r)["failures"]
    assert [f["name"] for f in failures] == ["drift.mean_area"]
    assert failures[0]["detail"].startswith("train: wasserstein = ")
    junit = (tmp_path / ".mlci" / "validation" / "validation.xml").read_text()
    assert 'name="drift.mean_area"' in junit  # the same name as its JUnit test case


def test_validate_that_passes_has_no_failures(tmp_path, mlci):
    breast_cancer_frame(50).to_csv(tmp_path / "d.csv", index=False)
    r = mlci("validate", "--data", tmp_path / "d.csv", "--json", "--out", tmp_path / "v", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert result(r)["failures"] == []


def test_check_names_the_blocking_check_only(tmp_path, mlci):
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "demo", "task": "classification", "data": {"train": "t.csv", "target": "y"},
        "checks": [{"name": "lint", "run": "false"}, {"name": "style", "run": "false", "blocking": False},
                   {"name": "unit", "run": "true"}]}))
    r = mlci("check", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert result(r)["failures"] == [{"name": "lint", "detail": "exit code 1"}]
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "demo", "task": "classification", "data": {"train": "t.csv", "target": "y"},
        "checks": [{"name": "style", "run": "false", "blocking": False}]}))
    r = mlci("check", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # unstable: a non-blocking failure does not fail the command
    out = result(r)
    assert out["failures"] == [] and out["unstable"] is True


def test_a_check_failed_before_any_result_is_printed_by_the_cli_edge(trained, tmp_path, mlci):
    """`mlci image push` of an image that was never verified says no before printing anything."""
    root = copy(trained, tmp_path)
    set_config(root, image={"repository": "127.0.0.1:1/ml/bc"})
    run_dir = root / ".mlci" / "runs" / (root / ".mlci" / "runs" / "LATEST").read_text().strip()
    (run_dir / "image.json").write_text(json.dumps({"image_id": "sha256:" + "0" * 64, "tag": "ml/bc:x"}))
    r = mlci("image", "push", "--json", cwd=root)
    assert r.returncode == 1, r.stderr
    out = result(r)
    assert [f["name"] for f in out["failures"]] == ["image verify"]
    assert "has not been verified" in out["failures"][0]["detail"] and out["exit_code"] == 1


def test_run_that_passes_has_no_failures(trained, tmp_path, mlci):
    root = copy(trained, tmp_path)
    r = mlci("run", "--json", "--no-report", cwd=root)
    assert r.returncode == 0, r.stderr
    assert result(r)["failures"] == []
