"""`mlci schema infer` and `mlci validate` as a user runs them: real files, the real CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlci import config as config_mod
from mlci.validation import drift_against_stats, reference_stats, validate_project


def make_data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """One source: a fresh seed is a fresh sample; ``shift`` moves the distributions."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "id": np.arange(seed * 1_000_000, seed * 1_000_000 + n),
        "age": rng.integers(18, 90, n),
        "income": rng.lognormal(10 + shift, 0.5, n),
        "plan": rng.choice(["free", "pro", "team"], n, p=[0.5 - shift / 2, 0.3, 0.2 + shift / 2]),
        "email": [f"user{seed}_{i}@example.com" for i in range(n)],
        "score": rng.normal(shift * 2, 1, n),
    })
    df.loc[rng.random(n) < 0.02, "income"] = np.nan
    return df


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("valproj")
    make_data(3000, 1).to_parquet(d / "train.parquet", index=False)
    make_data(3000, 2).to_csv(d / "fresh.csv", index=False)
    make_data(3000, 3, shift=0.4).to_parquet(d / "shifted.parquet", index=False)
    return d


def test_infer_then_validate_same_data_and_a_fresh_sample_pass(project, mlci, tmp_path):
    r = mlci("schema", "infer", "--data", project / "train.parquet", "-o", tmp_path / "schema.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    cols = schema["columns"]
    assert cols["id"]["unique"] is True and cols["id"]["dtype"] == "int"
    assert cols["plan"]["allowed"] == ["free", "pro", "team"]
    assert cols["email"]["regex"].startswith("^")
    assert 0.02 <= cols["income"]["max_null_fraction"] <= 0.1
    assert cols["age"]["min"] <= 18 and cols["age"]["max"] >= 89
    assert schema["table"]["columns"] == "strict"

    for data in ("train.parquet", "fresh.csv"):
        r = mlci("validate", "--data", project / data, "--schema", tmp_path / "schema.yaml",
                 "--out", tmp_path / "out", "--json", cwd=tmp_path)
        assert r.returncode == 0, (data, r.stdout[-2000:], r.stderr)
        result = json.loads(r.stdout)
        assert result["passed"] and result["errors"] == 0
        assert "validation passed" in r.stderr


def test_infer_refuses_to_overwrite(project, mlci, tmp_path):
    (tmp_path / "schema.yaml").write_text("columns: {}\n")
    r = mlci("schema", "infer", "--data", project / "train.parquet", "-o", "schema.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr


def test_planted_violations_are_each_named(project, mlci, tmp_path):
    mlci("schema", "infer", "--data", project / "train.parquet", "-o", tmp_path / "schema.yaml", cwd=tmp_path)
    schema = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    schema["table"]["expressions"] = [{"name": "adult_income", "expr": "age >= 18 or income < 1000"}]
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    df = make_data(500, 4)
    df.loc[10, "age"] = -3                      # age.min
    df.loc[11, "age"] = 500                     # age.max
    df.loc[12, "plan"] = "enterprise"           # plan.allowed
    df.loc[13, "email"] = "not-an-email"        # email.regex
    df.loc[14, "id"] = df.loc[15, "id"]         # id.unique (row 15 repeats... row 14 holds the copy)
    df.loc[16, "score"] = None                  # score.nullable
    df["extra"] = 1                             # table.columns
    df.to_parquet(tmp_path / "bad.parquet", index=False)
    r = mlci("validate", "--data", tmp_path / "bad.parquet", "--schema", tmp_path / "schema.yaml",
             "--out", tmp_path / "out", "--junit", tmp_path / "junit.xml", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    result = json.loads((tmp_path / "out" / "validation.json").read_text())
    failed = {x["id"]: x for x in result["datasets"][0]["rules"] if x["status"] == "failed"}
    expected = {"age.min": [10], "age.max": [11], "plan.allowed": [12], "email.regex": [13],
                "id.unique": [15], "score.nullable": [16], "table.columns": [],
                "table.expression[adult_income]": [10]}
    assert set(failed) == set(expected), sorted(failed)
    for rid, rows in expected.items():
        assert failed[rid]["failing_rows"] == rows, rid
        assert rid in r.stderr  # the summary table names it
    assert failed["plan.allowed"]["observed"] == {"unexpected_values": ["enterprise"]}
    assert failed["age.max"]["observed"] == 500
    # every rule is recorded, passing ones too, with expected and observed
    assert any(x["id"] == "age.dtype" and x["status"] == "passed" for x in result["datasets"][0]["rules"])

    # the JUnit XML parses and carries one testcase per rule, failures for the planted ones
    root = ET.parse(tmp_path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == len(result["datasets"][0]["rules"])
    failures = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failures) == set(expected)
    assert "enterprise" in failures["plan.allowed"].get("message")
    assert root.get("failures") == str(len(expected))
    assert (tmp_path / "out" / "validation.xml").read_text() == (tmp_path / "junit.xml").read_text()


def test_drift_found_on_a_shifted_sample_not_on_a_resample(project, mlci, tmp_path):
    stats = tmp_path / "reference_stats.json"
    r = mlci("schema", "stats", "--data", project / "train.parquet", "-o", stats, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = json.loads(stats.read_text())
    assert saved["columns"]["income"]["kind"] == "numeric" and len(saved["columns"]["income"]["edges"]) > 100
    assert saved["columns"]["plan"]["categories"].keys() == {"free", "pro", "team"}

    r = mlci("validate", "--data", project / "fresh.csv", "--reference-stats", stats, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    drift = json.loads(r.stdout)["datasets"][0]["drift"]
    assert drift["drifted"] == 0 and not drift["dataset_drift"]
    compared = {c["column"]: c for c in drift["columns"]}
    assert set(compared) == {"age", "income", "plan", "score"}  # id (identifier) and email skipped
    assert {s["column"] for s in drift["skipped"]} == {"id", "email"}
    for c in compared.values():  # every statistic recorded even under threshold
        keys = {"psi", "jensenshannon"} if c["kind"] == "categorical" else {"ks", "ks_pvalue", "wasserstein_normed"}
        assert keys <= set(c["stats"]) and c["statistic"] < c["threshold"]

    r = mlci("validate", "--data", project / "shifted.parquet", "--reference", project / "train.parquet",
             "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout)
    drift = result["datasets"][0]["drift"]
    assert drift["dataset_drift"] and {c["column"] for c in drift["columns"] if c["drifted"]} >= {
        "income", "plan", "score"}
    assert "drift.income" in r.stderr
    root = ET.fromstring(Path(result["outputs"]["junit"]).read_text())
    assert root.find(".//testcase[@name='drift.dataset']/failure") is not None


def test_drift_as_warning_does_not_fail(project, mlci, tmp_path):
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "m", "task": "classification",
        "data": {"train": str(project / "shifted.parquet"), "target": "plan",
                 "reference": str(project / "train.parquet")},
        "validate": {"drift": {"severity": "warn"}}}))
    r = mlci("validate", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["warnings"] >= 3 and result["errors"] == 0
    assert (tmp_path / ".mlci" / "validation" / "validation.json").exists()


def test_mlci_yaml_uses_train_test_schema_and_reference(project, mlci, tmp_path):
    mlci("schema", "infer", "--data", project / "train.parquet", "-o", tmp_path / "schema.yaml", cwd=tmp_path)
    make_data(400, 7).to_csv(tmp_path / "test.csv", index=False)
    bad = make_data(400, 8)
    bad.loc[3, "plan"] = "gold"
    bad.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "classification",
        "data": {"train": "train.csv", "test": "test.csv", "target": "plan", "schema": "schema.yaml",
                 "reference": str(project / "train.parquet")}}))
    r = mlci("validate", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout)
    train, test = result["datasets"]
    assert (train["name"], test["name"]) == ("train", "test")
    assert [x["id"] for x in train["rules"] if x["status"] == "failed"] == ["plan.allowed"]
    assert test["errors"] == 0 and test["drift"]["compared"] == 4
    assert any(x["id"] == "plan.target" and x["status"] == "passed" for x in train["rules"])

    # the pipeline's API gives the same verdict and writes both files
    config = config_mod.load(tmp_path / "mlci.yaml")
    out = validate_project(config, tmp_path / "run")
    assert out["passed"] is False and out["errors"] == 1 and isinstance(out["summary"], str)
    assert (tmp_path / "run" / "validation.json").exists() and (tmp_path / "run" / "validation.xml").exists()


def test_validate_project_without_schema_runs_basic_checks(tmp_path, mlci):
    pd.DataFrame({"x": [1, 2], "empty": [None, None], "y": [0, 1]}).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "classification", "data": {"train": "t.csv", "target": "y"}}))
    out = validate_project(config_mod.load(tmp_path / "mlci.yaml"), tmp_path / "run")
    failed = sorted(x["id"] for x in out["datasets"][0]["rules"] if x["status"] == "failed")
    assert failed == ["empty.not_all_null"]
    assert out["errors"] == 1 and not out["passed"] and "empty.not_all_null" in out["summary"]
    assert [r["id"] for r in out["rules"] if not r["passed"]] == ["empty.not_all_null"]

    # a target the data lacks is bad input (exit 2), as for `mlci train`
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "classification", "data": {"train": "t.csv", "target": "yy"}}))
    r = mlci("validate", cwd=tmp_path)
    assert r.returncode == 2
    assert "t.csv: target column `yy` not found (did you mean `y`?)" in r.stderr


def test_reference_stats_api_round_trips_through_json(project):
    ref = pd.read_parquet(project / "train.parquet")
    stats = json.loads(json.dumps(reference_stats(ref)))
    same = drift_against_stats(make_data(3000, 9), stats)
    moved = drift_against_stats(pd.read_parquet(project / "shifted.parquet"), stats)
    assert not same["dataset_drift"] and moved["dataset_drift"]


def test_data_and_schema_need_no_mlci_yaml_and_missing_config_is_a_clear_error(project, mlci, tmp_path):
    (tmp_path / "schema.yaml").write_text("columns:\n  age: {dtype: int, min: 0}\n")
    r = mlci("validate", "--data", project / "fresh.csv", "--schema", "schema.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = mlci("validate", cwd=tmp_path)
    assert r.returncode == 2
    assert "mlci.yaml: file not found" in r.stderr and "--data" in r.stderr
    r = mlci("validate", "--data", project / "fresh.csv", "--schema", "nope.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "nope.yaml: file not found" in r.stderr
    (tmp_path / "bad.yaml").write_text("columns:\n  age: {dtype: int, mni: 0}\n")
    r = mlci("validate", "--data", project / "fresh.csv", "--schema", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "bad.yaml: columns.age.mni: unknown key `mni` (did you mean `min`?)" in r.stderr


def test_chunk_rows_same_verdict_as_whole_file(project, mlci, tmp_path):
    mlci("schema", "infer", "--data", project / "train.parquet", "-o", tmp_path / "s.yaml", cwd=tmp_path)
    df = make_data(3000, 5)
    df.loc[2900, "id"] = df.loc[5, "id"]
    df.to_csv(tmp_path / "d.csv", index=False)
    outs = []
    for extra in ([], ["--chunk-rows", "256"]):
        r = mlci("validate", "--data", tmp_path / "d.csv", "--schema", tmp_path / "s.yaml", "--json",
                 "--reference", project / "train.parquet", *extra, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        outs.append(json.loads(r.stdout)["datasets"][0])
    whole, chunked = outs
    assert chunked["batches"] > 5
    assert [(x["id"], x["failing_rows"]) for x in whole["rules"] if x["status"] == "failed"] == \
           [(x["id"], x["failing_rows"]) for x in chunked["rules"] if x["status"] == "failed"] == [("id.unique", [2900])]
    for a, b in zip(whole["drift"]["columns"], chunked["drift"]["columns"]):
        assert a["statistic"] == pytest.approx(b["statistic"], abs=1e-9)
