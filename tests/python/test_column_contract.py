"""The column-type contract (mlci.columns), one test per problem it fixes: dates, missing values,
role overrides, placeholders, drift on new batches, and MLflow's wire behaviour."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mixed_data import mixed_frame, mixed_project, records
from projects import classification_project
from serve_fixtures import Server, train_model

from mlci import columns
from mlci.errors import ConfigError


def train(root: Path, mlci) -> tuple[Path, str]:
    r = mlci("train", "-c", root / "mlci.yaml", cwd=root)
    assert r.returncode == 0, r.stderr
    return next((root / ".mlci" / "runs").glob("*/model")), r.stderr


def roles(model_dir: Path) -> dict[str, str]:
    return {i["name"]: i["role"] for i in json.loads((model_dir / "signature.json").read_text())["inputs"]}


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("mixed-reg")
    mixed_project(root, task="regression")
    model_dir, stderr = train(root, run_cli)
    srv = Server(model_dir)
    yield model_dir, srv, stderr, root
    srv.stop()


# --- roles -------------------------------------------------------------------------------------

def test_each_column_gets_one_role_and_overrides_keep_the_automatic_choice(regression):
    model_dir, _, stderr, _ = regression
    # features.categorical names `code` only: strings, dates and booleans keep their roles
    assert roles(model_dir) == {"num": "numeric", "color": "categorical", "flag": "boolean", "day": "datetime",
                                "hp": "numeric", "code": "categorical"}
    assert "column `row_id` has a different text in each of its 300 rows" in stderr


def test_numeric_and_datetime_lists_override_single_columns():
    X = pd.DataFrame({"a": ["1", "2", "3"], "t": [1.6e9, 1.61e9, None], "c": ["x", "y", "x"], "n": [1, 2, 3]})
    features = type("F", (), {"numeric": ["a"], "datetime": ["t"], "categorical": None})()
    assert columns.decide(X, features).roles == {"a": "numeric", "t": "datetime", "c": "categorical", "n": "numeric"}
    both = type("F", (), {"numeric": ["a"], "datetime": None, "categorical": ["a"]})()
    with pytest.raises(ConfigError, match="column `a` is listed as both numeric and categorical"):
        columns.decide(X, both)


# --- dates -------------------------------------------------------------------------------------

def test_dates_are_numeric_features_served_from_text_or_numbers(regression):
    from mlci import model

    model_dir, srv, _, _ = regression
    pipeline = model.load(model_dir)
    row = records(mixed_frame(1, seed=5, task="regression").drop(columns=["label"]))[0]
    early, late = dict(row, day="2021-01-02T00:00:00Z"), dict(row, day="2022-12-01T12:00:00+02:00")
    want = pipeline.predict(pd.DataFrame([early, late]))
    assert abs(want[0] - want[1]) > 1  # the date matters to the model
    assert srv.post({"dataframe_records": [early, late]}) == (200, {"predictions": pytest.approx(list(want), abs=1e-9)})
    as_numbers = [dict(early, day=pd.Timestamp("2021-01-02", tz="UTC").timestamp()),
                  dict(late, day=pd.Timestamp("2022-12-01T10:00:00Z").timestamp())]
    assert srv.post({"dataframe_records": as_numbers}) == (200, {"predictions": pytest.approx(list(want), abs=1e-9)})


# --- missing values ----------------------------------------------------------------------------

def test_a_missing_category_gets_the_same_answer_alone_and_in_a_batch(regression):
    _, srv, _, _ = regression
    rows = records(mixed_frame(6, seed=9, task="regression").drop(columns=["label"]))
    rows[0]["color"] = None
    alone = srv.post({"dataframe_records": rows[:1]})[1]["predictions"][0]
    for variant in (None, float("nan"), ""):
        batch = [dict(rows[0], color=variant)] + rows[1:]
        assert srv.post({"dataframe_records": batch})[1]["predictions"][0] == pytest.approx(alone, abs=1e-9)
    csv = pd.DataFrame(rows).to_csv(index=False)  # the empty cell
    assert srv.post(csv, "text/csv")[1]["predictions"][0] == pytest.approx(alone, abs=1e-9)


# --- placeholders ------------------------------------------------------------------------------

def test_placeholders_are_named_in_a_warning_and_na_values_makes_them_missing(tmp_path, mlci, regression):
    _, _, stderr, root = regression
    assert "column `hp` is numbers with the text '?' in" in stderr and "data.na_values" in stderr
    mixed_project(tmp_path, task="regression", na_values=["?"])
    model_dir, stderr = train(tmp_path, mlci)
    assert "`hp`" not in stderr
    hp = next(i for i in json.loads((model_dir / "signature.json").read_text())["inputs"] if i["name"] == "hp")
    assert hp["role"] == "numeric" and hp["dtype"] == "float64"
    elsewhere = tmp_path / "elsewhere"  # no mlci.yaml
    elsewhere.mkdir()
    r = mlci("schema", "infer", "--data", root / "data" / "train.csv", "-o", tmp_path / "s.yaml", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "column `hp` is numbers with the text '?'" in r.stderr
    r = mlci("schema", "infer", "--data", root / "data" / "train.csv", "-o", tmp_path / "s2.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "`hp`" not in r.stderr  # mlci.yaml here lists '?' in data.na_values
    assert yaml.safe_load((tmp_path / "s2.yaml").read_text())["columns"]["hp"]["dtype"] == "float"


# --- drift on new data ---------------------------------------------------------------------------

def test_validate_data_says_why_it_did_not_check_drift_against_production(tmp_path, mlci):
    classification_project(tmp_path)
    r = mlci("validate", "--data", tmp_path / "data" / "train.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no drift check against the baseline model: no `production` version of bc in the registry yet" in r.stdout + r.stderr


def test_validate_data_checks_drift_against_production_dates_included(tmp_path, mlci):
    mixed_project(tmp_path, task="regression", features={"categorical": ["code"], "exclude": ["row_id"]})
    cfg = yaml.safe_load((tmp_path / "mlci.yaml").read_text())
    cfg["evaluate"]["baseline"] = "production"
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump(cfg))
    r = mlci("run", "--promote", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    new = tmp_path / "new.csv"
    mixed_frame(300, seed=4, task="regression").to_csv(new, index=False)
    r = mlci("validate", "--data", new, "--json", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert out["drift_reference"] == "mixed v1 (training data statistics)"
    compared = {c["column"]: c for c in out["datasets"][0]["drift"]["columns"]}
    # dates (text in the new CSV, timestamps in the stored statistics) and numbers with `?` are
    # compared as numbers, never "type changed"
    assert compared["day"]["kind"] == compared["hp"]["kind"] == "numeric"
    assert not any(c["method"] == "type" for c in compared.values())
    assert compared["day"]["stats"]["ks"] < 0.2 and compared["hp"]["stats"]["ks"] < 0.2
    # a reference file with the excluded id column: ids are never compared
    r = mlci("validate", "--data", new, "--reference", tmp_path / "data" / "train.csv", "--json", cwd=tmp_path)
    out = json.loads(r.stdout)
    assert "row_id" not in {c["column"] for c in out["datasets"][0]["drift"]["columns"]}


# --- MLflow's wire behaviour ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def numeric_model(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("numeric") / "model")


@pytest.mark.parametrize("engine", [(), ("--engine", "sklearn")])
def test_mlflow_clients_get_what_mlflow_gives(numeric_model, engine):
    X = numeric_model["X"].iloc[:5]
    want = numeric_model["pipeline"].predict(X).tolist()
    srv = Server(numeric_model["dir"], *engine)
    try:
        extra = [dict(r, comment="x", source=1) for r in records(X)]
        assert srv.post({"dataframe_records": extra}) == (200, {"predictions": want})
        as_text = [{k: repr(v) for k, v in r.items()} for r in records(X)]
        assert srv.post({"dataframe_records": as_text}) == (200, {"predictions": want})
        body = io.BytesIO()
        X.to_parquet(body)
        assert srv.post(body.getvalue(), "application/vnd.apache.parquet") == (200, {"predictions": want})
        one = records(X.iloc[:1])
        one[0]["mean_area"] = float("inf")
        alone = srv.post({"dataframe_records": one})
        big = srv.post({"dataframe_records": one + records(X.iloc[[1] * 600])})
        assert alone[0] == big[0] == 400
        assert alone[1]["message"] == big[1]["message"] == \
            "dataframe_records[0]: column 'mean_area' expected a finite number or null (a missing value), got Infinity"
    finally:
        srv.stop()
    assert "ignoring request columns the model does not take: comment, source" in srv.stderr


@pytest.mark.parametrize("value, expected", [
    ({"num": "abc"}, "dataframe_records[1]: column 'num' expected a number, got a string 'abc'"),
    ({"day": "yesterday"}, "dataframe_records[1]: column 'day' expected an ISO 8601 date/time or seconds since 1970, "
                           "got a string 'yesterday'"),
    ({"flag": "maybe"}, "dataframe_records[1]: column 'flag' expected true or false, got a string 'maybe'"),
    ({"hp": [1]}, "dataframe_records[1]: column 'hp' expected a number, got a list [1]"),
])
def test_a_value_the_signature_cannot_take_is_a_400_naming_row_column_and_type(regression, value, expected):
    _, srv, _, _ = regression
    rows = records(mixed_frame(3, seed=2, task="regression").drop(columns=["label"]))
    rows[1].update(value)
    assert srv.post({"dataframe_records": rows}) == (400, {"error_code": "BAD_REQUEST", "message": expected})


def test_health_reports_the_registry_fingerprint_and_version(numeric_model, tmp_path):
    from mlci.registry import Registry
    from mlci.store import open_store

    store = open_store(str(tmp_path / "store"))
    store.publish_run("run1", {f"model/{p.name}": p for p in numeric_model["dir"].iterdir()}, {"name": "bc"})
    reg = Registry(store, "bc")
    rec, _ = reg.register({"run_id": "run1", "fingerprint": "ab" * 32, "blessed": True, "metrics": {}})
    reg.set_alias("production", rec["version"], actor="test", reason=None)
    srv = Server("bc@production", "--store", str(tmp_path / "store"), cwd=tmp_path)
    try:
        health = json.loads(srv.request("GET", "/health")[2])
    finally:
        srv.stop()
    assert (health["fingerprint"], health["version"]) == ("ab" * 32, "1")


def test_health_of_a_run_reports_its_training_fingerprint(regression):
    model_dir, srv, _, _ = regression
    health = json.loads(srv.request("GET", "/health")[2])
    assert health["fingerprint"] == json.loads((model_dir.parent / "run.json").read_text())["fingerprint"]


def test_old_signatures_without_roles_still_serve():
    from mlci.model.signature import roles as signature_roles

    old = {"inputs": [{"name": "a", "dtype": "int64", "categorical": False},
                      {"name": "b", "dtype": "string", "categorical": True},
                      {"name": "c", "dtype": "bool", "categorical": False}]}
    assert signature_roles(old) == {"a": "numeric", "b": "categorical", "c": "boolean"}
    assert np.isnan(columns.number(None)) and columns.category_text(1.0) == columns.category_text("1")


def test_parquet_timestamps_train_and_serve_from_iso_text(tmp_path, mlci):
    """A Parquet timestamp column (naive and with a time zone) next to a categorical override:
    training used to end in `float() argument must be ... not 'Timestamp'`."""
    from mlci import model
    from mlci.serve import build_app

    frame = mixed_frame(300, seed=1, task="regression").drop(columns=["day", "row_id"])
    frame["when"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(300) * 37, unit="h")
    frame["where_tz"] = frame["when"].dt.tz_localize("America/New_York")
    frame["hp"] = pd.to_numeric(frame["hp"], errors="coerce")
    (tmp_path / "data").mkdir()
    frame.to_parquet(tmp_path / "data" / "train.parquet")
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "ts", "task": "regression", "data": {"train": "data/train.parquet", "target": "label",
                                                     "features": {"categorical": ["code"]}},
        "model": {"estimator": "sklearn.ensemble.RandomForestRegressor", "params": {"n_estimators": 10}}}))
    model_dir, _ = train(tmp_path, mlci)
    assert roles(model_dir)["when"] == roles(model_dir)["where_tz"] == "datetime"
    X = frame.drop(columns=["label"]).head(8)
    want = model.load(model_dir).predict(X)
    rows = records(X)
    for r in rows:
        r["when"], r["where_tz"] = r["when"].isoformat(), r["where_tz"].isoformat()
    status, _, out = build_app(model_dir).handle("POST", "/invocations", "application/json",
                                                 json.dumps({"dataframe_records": rows}).encode())
    assert status == 200 and json.loads(out)["predictions"] == pytest.approx(list(want), abs=1e-9)
