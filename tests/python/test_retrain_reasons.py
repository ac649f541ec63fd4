"""Say why a run retrains (issue 25): like `dvc status`, `mlci run` names the data files, config fields
and code files that changed since the last training in this workspace, from what the train stage
record says its fingerprint was made of."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from projects import breast_cancer_frame, classification_project


def run(mlci, root: Path, *args: str) -> dict:  # noqa: ANN001
    r = mlci("run", "--json", *args, cwd=root)
    assert r.returncode == 0, r.stderr
    return {s["stage"]: s for s in json.loads(r.stdout)["stages"]}


def test_a_retrain_names_what_changed_and_its_own_outputs_change_nothing(tmp_path, mlci):
    config = classification_project(tmp_path)
    (tmp_path / "features.py").write_text("SCALE = 1\n")
    first = run(mlci, tmp_path)["train"]
    assert first["status"] == "ran"
    assert first["data"]["retrain_reasons"] == ["no earlier training in this workspace"]
    record = json.loads((tmp_path / ".mlci" / "runs" / first["data"]["run_id"] / "stages" / "train.json").read_text())
    inputs = record["inputs"]
    assert set(inputs) == {"data", "config", "code", "versions"}
    assert inputs["code"] == {"features.py": inputs["code"]["features.py"]}
    assert set(inputs["data"]) == {"train"} and inputs["config"]["model"]["params"]["n_estimators"] == 20

    # what a nightly job writes beside mlci.yaml (monitor --out monitor/, reports) is not an input
    (tmp_path / "monitor").mkdir()
    (tmp_path / "monitor" / "drift.json").write_text('{"drift": false}')
    (tmp_path / "monitor" / "performance.json").write_text("{}")
    assert run(mlci, tmp_path)["train"]["status"] == "up to date"

    data = yaml.safe_load(config.read_text())
    data["model"]["params"]["n_estimators"] = 21
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "features.py").write_text("SCALE = 2\n")
    (tmp_path / "helpers.py").write_text("X = 1\n")
    breast_cancer_frame().iloc[:-5].to_csv(tmp_path / "data" / "train.csv", index=False)
    r = mlci("run", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    train = {s["stage"]: s for s in json.loads(r.stdout)["stages"]}["train"]
    assert train["status"] == "ran"
    assert train["data"]["retrain_reasons"] == [
        "data.train changed",
        "config model.params.n_estimators: 20 -> 21",
        "code features.py changed",
        "code helpers.py added",
    ]
    assert "retrained: data.train changed; config model.params.n_estimators: 20 -> 21" in train["detail"]
    human = mlci("run", "--force", cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "forced (--force); the inputs are those of the last training" in human.stderr
    # the same inputs reproduce the same model: publish says plainly that nothing new was registered
    assert "nothing new registered" in human.stderr and "same training inputs as v2" in human.stderr
