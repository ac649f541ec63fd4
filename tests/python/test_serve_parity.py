"""Same answers in production as in training: `mlci serve` over HTTP equals the saved pipeline's
predict / predict_proba in Python on every row, one row at a time and in batches, on the fast
path and with --engine sklearn, for both examples and a generated project with every column role."""

from __future__ import annotations

import importlib.util
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mixed_data import COLORS, mixed_project, records
from serve_fixtures import Server

from conftest import REPO

ENGINES = [(), ("--engine", "sklearn")]


def trained(root: Path, mlci) -> Path:
    r = mlci("train", "-c", root / "mlci.yaml", cwd=root)
    assert r.returncode == 0, r.stderr
    return next((root / ".mlci" / "runs").glob("*/model"))


def example(name: str, root: Path, mlci) -> tuple[Path, pd.DataFrame]:
    """The example project as shipped (its mlci.yaml, its generated data), trained."""
    spec = importlib.util.spec_from_file_location("make_data", REPO / "examples" / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    shutil.copy(REPO / "examples" / name / "mlci.yaml", root / "mlci.yaml")
    getattr(make_data, name.replace("-", "_"))(root / "data")
    model_dir = trained(root, mlci)
    rows = pd.read_parquet(model_dir.parent / "test.parquet")
    return model_dir, rows


def same(got, want) -> None:
    want = np.asarray(want)
    if want.dtype.kind == "f":
        np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-9, atol=1e-9)
    else:
        assert list(got) == want.tolist()


def check_parity(model_dir: Path, X: pd.DataFrame, bodies=None) -> None:
    """Every row alone and all rows together, on both engines, equal the pipeline's answers."""
    from mlci import model

    pipeline = model.load(model_dir)
    want = pipeline.predict(X)
    proba = pipeline.predict_proba(X) if hasattr(pipeline, "predict_proba") else None
    query = "?proba=true" if proba is not None else ""
    recs = records(X)
    for engine in ENGINES:
        srv = Server(model_dir, *engine)
        try:
            for i, rec in enumerate(recs):
                status, out = srv.post({"dataframe_records": [rec]}, path=f"/invocations{query}")
                assert status == 200, out
                same(out["predictions"], want[i:i + 1])
                if proba is not None:
                    same(out["probabilities"], proba[i:i + 1])
            for body, ctype in [({"dataframe_records": recs}, "application/json"),
                                ({"dataframe_split": {"columns": list(X.columns),
                                                      "data": [list(r.values()) for r in recs]}}, "application/json"),
                                (X.to_csv(index=False), "text/csv"), *(bodies or [])]:
                status, out = srv.post(body, ctype, path=f"/invocations{query}")
                assert status == 200, out
                same(out["predictions"], want)
                if proba is not None:
                    same(out["probabilities"], proba)
        finally:
            srv.stop()


@pytest.mark.parametrize("name", ["breast-cancer", "diabetes"])
def test_both_examples_serve_the_pipelines_answers(name, tmp_path, mlci):
    model_dir, rows = example(name, tmp_path, mlci)
    target = json.loads((model_dir / "signature.json").read_text())["target"]
    X = rows.drop(columns=[target])
    if name == "breast-cancer":
        X.iloc[3, 2] = np.nan  # a missing value takes scikit-learn's own route
    else:
        X.loc[X.index[:3], "sex"] = [None, "unknown", "female"]  # missing and unseen categories
    check_parity(model_dir, X)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("mixed")
    mixed_project(root)
    model_dir = trained(root, run_cli)
    X = pd.read_csv(root / "data" / "train.csv").drop(columns=["label"]).sample(60, random_state=1)
    X.loc[X.index[:4], "color"] = ["purple", None, "RED", "blue"]  # unseen, missing, unseen, seen
    return model_dir, X.reset_index(drop=True)


def test_every_column_role_serves_the_pipelines_answers(mixed):
    """Generated rows: numbers with NaN and `?`, text with missing and unseen categories, booleans
    with missing values, dates as text with and without offsets, an ignored identifier column."""
    model_dir, X = mixed
    parquet = io.BytesIO()
    X.astype({"hp": str}).to_parquet(parquet)
    dates_as_numbers = records(X)
    for rec in dates_as_numbers:  # the same instants as seconds since 1970
        if rec["day"] is not None:
            rec["day"] = pd.Timestamp(rec["day"]).tz_localize("UTC").timestamp() \
                if pd.Timestamp(rec["day"]).tzinfo is None else pd.Timestamp(rec["day"]).timestamp()
    numbers_as_text = [{**rec, "num": None if rec["num"] is None else repr(rec["num"]), "unused": "x"}
                       for rec in records(X)]
    check_parity(model_dir, X, bodies=[
        (parquet.getvalue(), "application/vnd.apache.parquet"),
        ({"dataframe_records": dates_as_numbers}, "application/json"),
        ({"dataframe_records": numbers_as_text}, "application/json"),
    ])


@pytest.fixture(scope="module")
def mixed_server(mixed):
    srv = Server(mixed[0])
    yield srv
    srv.stop()


_number = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False), st.just(float("nan")))
row_strategy = st.fixed_dictionaries({
    "row_id": st.text(max_size=5),
    "num": st.one_of(_number, st.floats(-5, 5).map(repr)),
    "color": st.one_of(st.none(), st.sampled_from(COLORS + ["purple", ""])),
    "flag": st.one_of(st.none(), st.booleans()),
    "day": st.one_of(st.none(),
                     st.datetimes(min_value=pd.Timestamp("2020-06-01").to_pydatetime(),
                                  max_value=pd.Timestamp("2023-06-01").to_pydatetime()).map(
                         lambda d: d.isoformat()),
                     st.floats(1.59e9, 1.69e9)),
    "hp": st.one_of(_number, st.just("?"), st.floats(40, 210).map(lambda v: str(round(v, 1)))),
    "code": st.integers(0, 4),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=8))
def test_random_rows_alone_and_together_get_the_pipelines_answers(mixed, mixed_server, rows):
    from mlci import model

    pipeline = model.load(mixed[0])
    frame = pd.DataFrame.from_records(rows)
    proba = pipeline.predict_proba(frame)
    wire_rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    status, out = mixed_server.post({"dataframe_records": wire_rows}, path="/invocations?proba=true")
    assert status == 200, out
    same(out["probabilities"], proba)
    status, out = mixed_server.post({"dataframe_records": wire_rows[:1]}, path="/invocations?proba=true")
    assert status == 200, out
    same(out["probabilities"], proba[:1])


def test_image_verify_compares_the_servers_answers_with_the_models(mixed, mixed_server, tmp_path):
    """The check `mlci image verify` runs against the container before a push (here against a
    local `mlci serve`: the same comparison over the same HTTP)."""
    from serve_fixtures import train_model

    from mlci.image.verify import parity

    model_dir, X = mixed
    result = parity(mixed_server.port, model_dir, X)
    assert result == {"rows": 60, "single_rows": 20, "passed": True, "problems": []}
    served = train_model(tmp_path / "a", seed=0)
    other = train_model(tmp_path / "b", seed=1)  # same columns, other trees
    srv = Server(served["dir"])
    try:
        result = parity(srv.port, other["dir"], other["X"])
    finally:
        srv.stop()
    assert not result["passed"] and result["problems"][0].startswith("alone: row ")


def test_numbers_and_dates_take_the_fast_path_with_the_same_answers(tmp_path, mlci):
    """Dates arrive as seconds and `?` as NaN from the wire parser, so a model of numbers and
    dates is served from arrays (compiled forest) and still equals the pipeline."""
    mixed_project(tmp_path, features={"include": ["num", "day", "hp"]})
    model_dir = trained(tmp_path, mlci)
    srv = Server(model_dir)
    try:
        assert json.loads(srv.request("GET", "/health")[2])["engine"] == "compiled-forest"
    finally:
        srv.stop()
    X = pd.read_csv(tmp_path / "data" / "train.csv")[["num", "day", "hp"]].head(40)
    check_parity(model_dir, X)


COMMAND_TRAIN = '''
import json, os, shutil
import pandas as pd
train = pd.read_parquet(os.environ["MLCI_TRAIN_DATA"])
roles = json.loads(os.environ["MLCI_ROLES"])
# the script sees every feature in its role's type: numbers (dates as seconds), text categories
assert all(str(train[c].dtype) == "float64" for c, r in roles.items() if r != "categorical"), train.dtypes
json.dump({"mean": float(train["num"].mean())}, open(os.path.join(os.environ["MLCI_OUTPUT_DIR"], "m.json"), "w"))
shutil.copy("predict.py", os.environ["MLCI_OUTPUT_DIR"])
'''
COMMAND_PREDICT = '''
import json, os
import numpy as np
def load(d):
    return json.load(open(os.path.join(d, "m.json")))
def predict(model, df):
    color = (df["color"] == "red").to_numpy(float) + df["color"].isna().to_numpy(float) * 2
    return (df["num"].fillna(model["mean"]).to_numpy() + df["day"].fillna(0).to_numpy() / 1e8
            + df["hp"].fillna(-1).to_numpy() / 100 + df["flag"].fillna(0.5).to_numpy() + color)
'''


def test_a_command_model_gets_the_same_columns_in_training_and_serving(tmp_path, mlci):
    config = mixed_project(tmp_path, task="regression")
    (tmp_path / "train.py").write_text(COMMAND_TRAIN)
    (tmp_path / "predict.py").write_text(COMMAND_PREDICT)
    import yaml

    cfg = yaml.safe_load(config.read_text())
    cfg["model"] = {"trainer": "command", "command": "python train.py"}
    config.write_text(yaml.safe_dump(cfg))
    model_dir = trained(tmp_path, mlci)
    from mlci.model import load_any

    X = pd.read_csv(tmp_path / "data" / "train.csv").drop(columns=["label", "row_id"]).head(30)
    model = load_any(model_dir)
    want = model.predict(X)
    assert np.isfinite(want).all() and len(set(np.round(want, 6))) > 20
    srv = Server(model_dir)
    try:
        for body in ({"dataframe_records": records(X)}, X.to_csv(index=False)):
            status, out = srv.post(body, "application/json" if isinstance(body, dict) else "text/csv")
            assert status == 200, out
            same(out["predictions"], want)
        status, out = srv.post({"dataframe_records": records(X.iloc[:1])})
        same(out["predictions"], want[:1])
    finally:
        srv.stop()
