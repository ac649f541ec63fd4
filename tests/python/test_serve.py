"""`mlci serve`: every accepted wire format, every rejected input, metrics, shutdown, registry refs."""

from __future__ import annotations

import json
import math
import re
import signal
import socket

import numpy as np
import pandas as pd
import pytest
from serve_fixtures import Server, train_model


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="module")
def server(model):
    srv = Server(model["dir"], "--workers", "2")
    yield srv
    srv.stop()


def expected(model, n=5):
    X = model["X"].iloc[:n]
    return X, model["pipeline"].predict(X).tolist()


# --- the plain endpoints ---------------------------------------------------------------------

def test_ping_health_version(server):
    assert server.request("GET", "/ping")[0] == 200
    status, _, body = server.request("GET", "/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["model"] == "bc"
    assert health["engine"] == "compiled-forest" and health["inputs"] == 30
    status, _, body = server.request("GET", "/version")
    assert status == 200 and {"mlci", "python", "scikit-learn"} <= set(json.loads(body))
    assert "2 workers" in server.banner


# --- every accepted format gives the pipeline's own predictions ---------------------------------

def test_dataframe_split_in_any_column_order(server, model):
    X, want = expected(model)
    cols = list(X.columns)[::-1]
    status, out = server.post({"dataframe_split": {"columns": cols, "data": X[cols].values.tolist(),
                                                   "index": list(range(len(X)))}})
    assert status == 200 and out == {"predictions": want}


def test_dataframe_split_without_columns_uses_signature_order(server, model):
    X, want = expected(model)
    assert server.post({"dataframe_split": {"data": X.values.tolist()}}) == (200, {"predictions": want})


def test_dataframe_records(server, model):
    X, want = expected(model)
    assert server.post({"dataframe_records": X.to_dict(orient="records")}) == (200, {"predictions": want})


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_instances_and_inputs_in_three_shapes(server, model, key):
    X, want = expected(model)
    for payload in (X.to_dict(orient="records"), X.values.tolist(), X.to_dict(orient="list")):
        assert server.post({key: payload}) == (200, {"predictions": want})


def test_csv(server, model):
    X, want = expected(model)
    assert server.post(X.to_csv(index=False), "text/csv") == (200, {"predictions": want})
    assert server.post(X.to_csv(index=False), "text/csv; charset=utf-8") == (200, {"predictions": want})


def test_probabilities_on_request(server, model):
    X, want = expected(model, 3)
    proba = model["pipeline"].predict_proba(X)
    for status, out in (server.post({"inputs": X.values.tolist()}, path="/invocations?proba=true"),
                        server.post({"inputs": X.values.tolist(), "params": {"proba": True}})):
        assert status == 200 and out["predictions"] == want and out["classes"] == [0, 1]
        assert np.allclose(out["probabilities"], proba, rtol=0, atol=1e-12)


def test_missing_values_are_imputed_like_the_pipeline(server, model):
    X, _ = expected(model, 2)
    X = X.copy()
    X.iloc[0, 3] = np.nan
    want = model["pipeline"].predict(X).tolist()
    rows = [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in X.values.tolist()]
    assert server.post({"inputs": rows}) == (200, {"predictions": want})


def test_the_fast_path_matches_scikit_learn_on_every_test_row(model):
    from mlci.serve.predictor import Predictor

    p = Predictor(model["dir"])
    X = model["X"]
    labels, proba = p.predict(X.values.tolist(), proba=True)
    assert p.engine == "compiled-forest"
    assert labels == model["pipeline"].predict(X).tolist()
    assert np.allclose(proba, model["pipeline"].predict_proba(X), rtol=0, atol=1e-12)
    big = pd.concat([X] * 30, ignore_index=True)  # over 4096 rows: in chunks
    assert p.predict(big.values.tolist())[0] == model["pipeline"].predict(big).tolist()


def test_every_walk_of_the_compiled_forest_reaches_scikit_learns_leaves_for_every_batch_size(model):
    """The joined tree, the level walk and tree by tree (forest.py) each reach exactly the leaf
    each tree's own Tree.apply does, also for values exactly on split thresholds, for one row,
    small batches (the joined tree's strided view depends on the batch size) and large ones;
    the batch sizes that pick each walk give scikit-learn's answers to the last bit."""
    from mlci.serve.forest import JOINED_PAIRS, TREEWISE_ROWS
    from mlci.serve.predictor import Predictor

    p = Predictor(model["dir"])
    compiled, sk = p._final, model["pipeline"][-1]
    assert compiled.joined is not None
    X, _, goes_right = rows_on_split_thresholds(model)
    assert goes_right > 0 and len(X) > TREEWISE_ROWS
    X32 = X.to_numpy(dtype=np.float32)
    want = np.stack([est.tree_.apply(X32) for est in sk.estimators_]) + compiled.roots[:, None]
    assert np.array_equal(compiled.leaves_treewise(X32), want)
    assert np.array_equal(compiled.leaves_levels(X32), want)
    joined_up_to = -(-JOINED_PAIRS // compiled.n_trees) - 1
    sizes = (1, 2, 7, joined_up_to, joined_up_to + 1, 100, TREEWISE_ROWS - 1, TREEWISE_ROWS, len(X))
    for n in sizes:
        for start in (0, 3):
            rows = X32[start:start + n]
            assert np.array_equal(compiled.leaves_joined(rows), want[:, start:start + n]), n
            assert np.array_equal(compiled.leaves(rows), want[:, start:start + n]), n
    for n in sizes:
        rows = X.iloc[:n]
        labels, proba = p.predict(rows.values.tolist(), proba=True)
        assert labels == model["pipeline"].predict(rows).tolist()
        assert proba == model["pipeline"].predict_proba(rows).tolist()


@pytest.mark.parametrize("n_trees", [1, 2, 7, 33])
def test_joined_trees_route_every_row_to_each_of_its_trees_and_take_missing_values_as_learned(n_trees):
    """Forests of any size (one tree: no routing; an odd count: an unbalanced routing level),
    deep trees (depth over 16), and trees trained with missing values: the joined tree reaches
    each tree's own leaf for every row, NaN included, and predicts what scikit-learn does; the
    level walk (every step down to the deepest leaf) too, on complete rows."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor

    from mlci.serve.forest import CompiledForest

    rng = np.random.default_rng(n_trees)
    X = rng.normal(size=(3000, 4))
    y = np.sin(X[:, 0] * 3) + X[:, 1] ** 2 + rng.normal(scale=0.1, size=3000)
    X[rng.random(X.shape) < 0.05] = np.nan
    est = (DecisionTreeRegressor(random_state=0) if n_trees == 1 else
           RandomForestRegressor(n_estimators=n_trees, max_depth=20, random_state=0)).fit(X, y)
    trees = getattr(est, "estimators_", [est])
    assert max(t.tree_.max_depth for t in trees) > 16
    compiled = CompiledForest(est)
    assert compiled.joined is not None
    rows = X[:100]
    assert np.isnan(rows).any(axis=1).sum() > 10
    want = np.stack([t.tree_.apply(rows.astype(np.float32)) for t in trees]) + compiled.roots[:, None]
    assert np.array_equal(compiled.leaves_joined(rows), want)
    assert all(np.array_equal(compiled.leaves_joined(rows[i:i + 1]), want[:, i:i + 1]) for i in range(100))
    assert np.array_equal(compiled.predict(rows), est.predict(rows))
    full = X[~np.isnan(X).any(axis=1)][:300]  # the level walk: rows without missing values (forest.py)
    want = np.stack([t.tree_.apply(full.astype(np.float32)) for t in trees]) + compiled.roots[:, None]
    assert np.array_equal(compiled.leaves_levels(full), want)
    assert np.array_equal(compiled.leaves(full), want)


def test_a_forest_too_big_for_the_level_walk_gives_the_same_answers_without_it(model, monkeypatch):
    """Over LEVELS_MAX_NODES nodes the level walk's arrays are not built (memory): every batch
    size then takes the joined tree or tree by tree, with scikit-learn's answers."""
    from mlci.serve import forest
    from mlci.serve.predictor import Predictor

    monkeypatch.setattr(forest, "LEVELS_MAX_NODES", 10)
    p = Predictor(model["dir"])
    assert p.engine == "compiled-forest" and p._final.child is None and p._final.joined is not None
    X = pd.concat([model["X"]] * 3, ignore_index=True)
    for n in (1, 50, forest.TREEWISE_ROWS - 1, forest.TREEWISE_ROWS):
        labels, proba = p.predict(X.iloc[:n].values.tolist(), proba=True)
        assert labels == model["pipeline"].predict(X.iloc[:n]).tolist()
        assert proba == model["pipeline"].predict_proba(X.iloc[:n]).tolist()


def test_a_forest_whose_trees_cannot_be_joined_is_walked_tree_by_tree(model, monkeypatch, caplog):
    """scikit-learn's tree state is internal: if joining fails (its format changed), the
    server still takes the compiled path, tree by tree, with the same answers, and says so."""
    from mlci.serve import forest
    from mlci.serve.predictor import Predictor

    def refuse(*args):
        raise KeyError("nodes")

    monkeypatch.setattr(forest, "_join", refuse)
    with caplog.at_level("INFO", logger="mlci.serve.forest"):
        p = Predictor(model["dir"])
    assert p.engine == "compiled-forest" and p._final.joined is None
    assert "tree by tree" in caplog.text
    X = model["X"].iloc[:20]
    labels, proba = p.predict(X.values.tolist(), proba=True)
    assert labels == model["pipeline"].predict(X).tolist()
    assert proba == model["pipeline"].predict_proba(X).tolist()


def test_100_row_requests_with_missing_values_get_the_pipelines_answers(server, model):
    """A 100-row batch in one request, as JSON numbers (the array fast path) and with nulls in
    some rows (those rows: scikit-learn's own routing after the imputer): the pipeline's
    predictions and probabilities, the same as one request per row."""
    X = model["X"].iloc[:100].copy()
    rng = np.random.default_rng(3)
    holes = rng.random(X.shape) < 0.05
    X = X.mask(holes)
    assert 0 < X.isna().any(axis=1).sum() < 100
    data = [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in X.values.tolist()]
    want = model["pipeline"].predict(X).tolist()
    proba = model["pipeline"].predict_proba(X)
    for body in ({"dataframe_split": {"columns": list(X.columns), "data": data}},
                 {"inputs": data}):
        status, out = server.post({**body, "params": {"proba": True}})
        assert status == 200 and out["predictions"] == want
        assert np.allclose(out["probabilities"], proba, rtol=0, atol=1e-12)
    one_by_one = [server.post({"inputs": [row]})[1]["predictions"][0] for row in data]
    assert one_by_one == want


def rows_on_split_thresholds(model) -> tuple[pd.DataFrame, int, int]:
    """Test rows with features set exactly to the forest's split thresholds (each row: every
    feature on one of its thresholds; then real rows with one feature moved onto one split).
    Also returns how many (row, tree) paths pass a node with the value exactly on its threshold,
    and how many of those go right in scikit-learn because float32(threshold) > threshold."""
    pipeline = model["pipeline"]
    forest = pipeline[-1]
    columns = list(model["X"].columns)
    splits = [(int(f), float(t)) for est in forest.estimators_
              for f, t in zip(est.tree_.feature, est.tree_.threshold) if f >= 0]
    per_feature: dict[int, list[float]] = {}
    for f, t in splits:
        per_feature.setdefault(f, []).append(t)
    base = model["X"].to_numpy(dtype=np.float64)
    rows = []
    for i in range(120):
        row = base[i % len(base)].copy()
        for f, thresholds in per_feature.items():
            row[f] = thresholds[i % len(thresholds)]
        rows.append(row)
    for i, (f, t) in enumerate(splits[:360]):
        row = base[i % len(base)].copy()
        row[f] = t
        rows.append(row)
    X = pd.DataFrame(rows, columns=columns)

    Xt = pipeline[:-1].transform(X)
    assert np.array_equal(Xt, X.to_numpy()), "the forest sees the columns as sent"
    on_threshold = goes_right = 0
    for est in forest.estimators_:
        tree = est.tree_
        path = est.decision_path(Xt.astype(np.float32)).tocsr()
        for r in range(len(X)):
            nodes = path.indices[path.indptr[r]:path.indptr[r + 1]]
            inner = nodes[tree.children_left[nodes] != -1]
            exact = Xt[r, tree.feature[inner]] == tree.threshold[inner]
            on_threshold += int(exact.sum())
            goes_right += int((np.float32(Xt[r, tree.feature[inner]][exact]) > tree.threshold[inner][exact]).sum())
    return X, on_threshold, goes_right


def test_rows_exactly_on_split_thresholds_get_the_pipelines_answers(server, model):
    X, on_threshold, goes_right = rows_on_split_thresholds(model)
    # the rows do what the test is for: many paths meet a split exactly on its threshold, and
    # some of those go right in scikit-learn (the value rounds up to float32 above it)
    assert on_threshold >= 500 and goes_right >= 20, (on_threshold, goes_right)
    assert json.loads(server.request("GET", "/health")[2])["engine"] == "compiled-forest"
    labels = model["pipeline"].predict(X).tolist()
    proba = model["pipeline"].predict_proba(X)
    for start in range(0, len(X), 240):  # batches the compiled forest serves (not over 512 rows)
        part = X.iloc[start:start + 240]
        status, out = server.post({"inputs": part.values.tolist(), "params": {"proba": True}})
        assert status == 200, out
        assert out["predictions"] == labels[start:start + 240]
        assert np.allclose(out["probabilities"], proba[start:start + 240], rtol=0, atol=1e-12)
    status, out = server.post(X.iloc[:100].to_csv(index=False), "text/csv")
    assert status == 200 and out["predictions"] == labels[:100]


# --- every rejected input: 4xx with a message naming the problem -----------------------------------

def bad(server, body, content_type="application/json"):
    status, out = server.post(body, content_type)
    assert out["error_code"] in ("BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE"), out
    return status, out["message"]


def test_malformed_json(server):
    status, msg = bad(server, '{"inputs": [[1, 2,]]')
    assert status == 400 and msg.startswith("malformed JSON")


def test_body_not_utf8(server):
    assert bad(server, b"\xff\xfe{}") == (400, "the body is not UTF-8 text; expected JSON")


@pytest.mark.parametrize("body, fragment", [
    ([[1, 2]], "expected a JSON object with one of dataframe_split, dataframe_records, instances, inputs, got a list"),
    ({}, "expected exactly one of dataframe_split, dataframe_records, instances, inputs; got none"),
    ({"instances": [], "inputs": []}, "expected exactly one of dataframe_split, dataframe_records, instances, "
                                      "inputs; got instances, inputs"),
    ({"data": []}, "unknown key 'data'"),
    ({"inputs": [[1.0] * 30], "params": [1]}, "params: expected an object, got a list"),
    ({"inputs": []}, "the request has no rows; expected at least one"),
    ({"inputs": 5}, "inputs: expected a list of rows or an object of columns, got a number"),
    ({"dataframe_split": [[1]]}, "dataframe_split: expected an object with columns and data, got a list"),
    ({"dataframe_split": {"columns": ["a"]}}, "dataframe_split: missing key 'data' (a list of rows)"),
    ({"dataframe_split": {"data": [[1.0] * 30], "shape": 1}}, "dataframe_split: unknown key 'shape'"),
    ({"dataframe_split": {"data": {"a": 1}}}, "dataframe_split.data: expected a list of rows, got an object"),
    ({"dataframe_split": {"data": [[1.0] * 29]}}, "dataframe_split.data[0]: expected 30 values in signature order"),
    ({"dataframe_records": {"a": 1}}, "dataframe_records: expected a list of objects, got an object"),
    ({"dataframe_records": [[1.0] * 30]}, "dataframe_records[0]: expected an object of column -> value, got a list"),
    ({"instances": [[1.0] * 31]}, "instances[0]: expected 30 values in signature order"),
    ({"instances": ["x"]}, "instances[0]: expected a list of 30 values, got a string"),
])
def test_wrong_shapes(server, body, fragment):
    status, msg = bad(server, body)
    assert status == 400 and fragment in msg


def test_missing_and_unexpected_columns_are_named(server, model):
    X, _ = expected(model, 1)
    rec = X.to_dict(orient="records")[0]
    del rec["mean_radius"]
    rec["mean_colour"] = 1.0
    status, msg = bad(server, {"dataframe_records": [rec]})
    assert status == 400
    assert "dataframe_records[0]: missing column 'mean_radius'; unexpected column 'mean_colour'" in msg
    assert "the model expects: mean_radius, mean_texture" in msg
    cols = list(X.columns)
    status, msg = bad(server, {"dataframe_split": {"columns": cols[:-1] + [cols[0]], "data": [[1.0] * 30]}})
    assert status == 400 and "dataframe_split.columns: column 'mean_radius' appears more than once" in msg
    status, msg = bad(server, {"dataframe_split": {"columns": cols, "data": [[1.0] * 29]}})
    assert status == 400 and "dataframe_split.data[0]: expected 30 values (one per column), got 29" in msg
    status, msg = bad(server, {"inputs": {c: [1.0, 2.0] for c in cols[:-1]} | {cols[-1]: [1.0]}})
    assert status == 400 and f"inputs.{cols[-1]}: expected 2 values like the other columns, got 1" in msg


@pytest.mark.parametrize("value, shown", [("12.5x", "a string '12.5x'"), (True, "a boolean true"),
                                          ([1], "a list [1]"), ({"v": 1}, 'an object {"v": 1}')])
def test_wrong_types_are_named(server, model, value, shown):
    X, _ = expected(model, 2)
    rows = X.values.tolist()
    rows[1][2] = value
    status, msg = bad(server, {"inputs": rows})
    assert status == 400
    assert msg == f"inputs[1]: column 'mean_perimeter' expected a number, got {shown}"


def test_csv_errors(server, model):
    X, _ = expected(model, 2)
    csv = X.to_csv(index=False)
    status, msg = bad(server, csv.replace(",", ";", 1).split("\n", 1)[1], "text/csv")
    assert status == 400 and "CSV header" in msg
    lines = csv.splitlines()
    lines[2] = "abc," + lines[2].split(",", 1)[1]
    status, msg = bad(server, "\n".join(lines), "text/csv")
    assert status == 400 and msg == "CSV line 3: column 'mean_radius' expected a number, got a string 'abc'"
    lines = csv.splitlines()
    lines[1] += ",7"
    status, msg = bad(server, "\n".join(lines), "text/csv")
    assert status == 400 and msg == "CSV line 2: expected 30 values (one per column), got 31"
    assert bad(server, "", "text/csv") == (400, "empty CSV body; expected a header row and at least one data row")


def test_unsupported_content_type(server):
    status, msg = bad(server, "a=1", "application/x-www-form-urlencoded")
    assert status == 415
    assert msg == ("unsupported Content-Type 'application/x-www-form-urlencoded'; expected application/json, "
                   "text/csv or application/vnd.apache.parquet")


def test_unknown_path_and_wrong_method(server):
    status, _, body = server.request("GET", "/predict")
    assert status == 404 and "no such endpoint '/predict'" in json.loads(body)["message"]
    status, _, body = server.request("GET", "/invocations")
    assert status == 405 and json.loads(body)["message"] == "GET is not allowed on /invocations; use POST"


def test_chunked_upload_is_refused_with_411(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411 ") and "send Content-Length" in reply


def test_keep_alive_serves_many_requests_on_one_connection(server, model):
    import http.client

    X, want = expected(model, 1)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(20):
        conn.request("POST", "/invocations", body=json.dumps({"inputs": X.values.tolist()}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read()) == {"predictions": want}
    conn.close()


# --- metrics ------------------------------------------------------------------------------------

def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_metrics_count_requests_errors_latency_and_classes_across_workers(server, model):
    def scrape():
        return server.request("GET", "/metrics")[2].decode()

    before = scrape()
    X, want = expected(model, 4)
    for _ in range(6):  # new connections: the kernel spreads them over both workers
        assert server.post({"inputs": X.values.tolist()})[0] == 200
    assert server.post({"inputs": "x"})[0] == 400
    assert server.request("GET", "/nope")[0] == 404
    text = scrape()

    def delta(name):
        return metric(text, name) - metric(before, name)

    assert delta('mlci_requests_total{endpoint="invocations",code="200"}') == 6
    assert delta('mlci_requests_total{endpoint="invocations",code="400"}') == 1
    assert delta('mlci_requests_total{endpoint="metrics",code="200"}') == 1
    assert delta('mlci_errors_total{reason="bad_request"}') == 1
    assert delta('mlci_errors_total{reason="not_found"}') == 1
    assert delta("mlci_request_duration_seconds_count") == 7
    assert delta('mlci_request_duration_seconds_bucket{le="+Inf"}') == 7
    assert delta("mlci_prediction_rows_total") == 24
    assert delta('mlci_predictions_total{class="1"}') == 6 * sum(want)
    assert delta('mlci_predictions_total{class="0"}') == 6 * (4 - sum(want))
    assert "# TYPE mlci_request_duration_seconds histogram" in text
    assert 'mlci_model_info{model="bc",version="",engine="compiled-forest"} 1' in text
    assert "mlci_workers 2" in text


# --- other models, limits, shutdown, registry ---------------------------------------------------

def test_string_columns_take_the_pipeline_path(tmp_path):
    m = train_model(tmp_path / "model", categorical=True)
    srv = Server(m["dir"])
    try:
        X = m["X"].iloc[:5]
        want = m["pipeline"].predict(X).tolist()
        assert srv.post({"dataframe_records": X.to_dict(orient="records")}) == (200, {"predictions": want})
        rows = X.to_dict(orient="records")
        rows[0]["site"] = "moon"  # unseen category: ignored, as in training
        assert srv.post({"dataframe_records": rows})[0] == 200
        rows[0]["site"] = 3  # a category compared as text: "3", unseen
        assert srv.post({"dataframe_records": rows})[0] == 200
        rows[0]["site"] = {"a": 1}
        status, out = srv.post({"dataframe_records": rows})
        assert status == 400 and out["message"] == \
            'dataframe_records[0]: column \'site\' expected a string, got an object {"a": 1}'
        assert json.loads(srv.request("GET", "/health")[2])["engine"] == "sklearn"
    finally:
        srv.stop()


def test_regression_body_limit_and_sigterm(tmp_path):
    m = train_model(tmp_path / "model", task="regression")
    srv = Server(m["dir"], "--max-body-mb", "0.001", "--workers", "2")
    try:
        X = m["X"].iloc[:3]
        status, out = srv.post({"inputs": X.values.tolist()})
        assert status == 200 and np.allclose(out["predictions"], m["pipeline"].predict(X), rtol=1e-12)
        status, out = srv.post({"inputs": X.values.tolist(), "params": {"proba": True}})
        assert status == 400 and "probabilities were asked for, but this model does not give them" in out["message"]
        status, out = srv.post({"inputs": X.values.tolist() * 20})
        assert status == 413 and "the limit is 1048 bytes" in out["message"]
    finally:
        code = srv.stop(signal.SIGTERM, timeout=20)
    assert code == 0  # SIGTERM: every worker drains and exits, then the parent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def test_bad_model_references_exit_2(mlci, tmp_path):
    r = mlci("serve", "--model", str(tmp_path / "nope"), cwd=tmp_path)
    assert r.returncode == 2 and f"--model {tmp_path / 'nope'}: no such directory" in r.stderr
    r = mlci("serve", "--model", "bc@production", "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert r.returncode == 2 and "model `bc` is not registered" in r.stderr


def test_serve_name_at_alias_from_the_registry(model, tmp_path):
    from mlci.registry import Registry
    from mlci.store import open_store

    store = open_store(str(tmp_path / "store"))
    files = {f"model/{p.name}": p for p in model["dir"].iterdir()}
    store.publish_run("run1", files, {"name": "bc"})
    reg = Registry(store, "bc")
    rec, _ = reg.register({"run_id": "run1", "fingerprint": "f" * 64, "blessed": True, "metrics": {}})
    reg.set_alias("production", rec["version"], actor="test", reason=None)
    srv = Server("bc@production", "--store", str(tmp_path / "store"), cwd=tmp_path)
    try:
        health = json.loads(srv.request("GET", "/health")[2])
        assert health["model"] == "bc" and health["version"] == "1"
        X, want = expected(model, 2)
        assert srv.post({"inputs": X.values.tolist()}) == (200, {"predictions": want})
    finally:
        srv.stop()
    assert (tmp_path / ".mlci" / "cache" / "models" / "bc" / "1" / "model" / "model.skops").is_file()


def test_the_array_fast_path_answers_byte_for_byte_like_the_row_by_row_path(model, monkeypatch):
    """The same request gives the same response bytes whether its JSON is read as a float array
    (numeric models) or value by value as before: 1 and 100 rows, nulls, probabilities, 400s."""
    from mlci.serve import build_app
    from mlci.serve.predictor import Predictor

    app = build_app(model["dir"])
    X = model["X"].iloc[:100]
    data = X.values.tolist()
    data[3][4] = None
    cols = list(X.columns)
    bodies = [{"dataframe_split": {"columns": cols, "data": data[:1]}},
              {"dataframe_split": {"columns": cols[::-1], "data": [r[::-1] for r in data]}},
              {"inputs": data, "params": {"proba": True}},
              {"instances": data[:7]},
              {"inputs": [data[0][:-1]]},
              {"inputs": [[True] + data[0][1:]]},
              {"dataframe_split": {"columns": cols[:-1] + ["mean_radius"], "data": data[:2]}}]
    raw = [json.dumps(b).encode() for b in bodies] + [b'{"inputs": [[' + b", ".join([b"1e400"] * 30) + b"]]}"]

    def answers():
        return [app.handle("POST", "/invocations", "application/json", body) for body in raw]

    fast = answers()
    assert [status for status, _, _ in fast] == [200, 200, 200, 200, 400, 400, 400, 400]
    monkeypatch.setattr(Predictor, "takes_array", property(lambda self: False))
    assert answers() == fast
