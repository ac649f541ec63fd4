"""`mlci run` with a rules file: a failing rule stops the pipeline with exit 1 before training."""

from __future__ import annotations

import json

from projects import classification_project


def test_validation_failure_stops_mlci_run_with_exit_1(tmp_path, mlci):
    (tmp_path / "schema.yaml").write_text(
        "columns:\n"
        "  mean_radius: {dtype: float, max: 10}\n"        # the data goes up to about 28
        "  diagnosis: {dtype: int, allowed: [0, 1]}\n")
    classification_project(tmp_path, data={"train": "data/train.csv", "target": "diagnosis",
                                           "schema": "schema.yaml"})
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    stages = {s["stage"]: s["status"] for s in out["stages"]}
    assert stages["validate"] == "failed" and "train" not in stages
    report = next((tmp_path / ".mlci").rglob("validation.json"))
    rules = {x["id"]: x for x in json.loads(report.read_text())["datasets"][0]["rules"]}
    assert rules["mean_radius.max"]["status"] == "failed" and rules["mean_radius.max"]["failing"] > 0
    assert rules["diagnosis.allowed"]["status"] == "passed"
    assert (report.parent / "validation.xml").is_file()
