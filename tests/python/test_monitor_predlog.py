"""The server's prediction log: rotation, retention, sampling, drops, and that logging never
fails a request."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from serve_fixtures import Server, train_model

from mlci.monitor.predlog import PredictionLog


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("predlog") / "model", n_estimators=5)


def body(model, n=1, start=0):
    X = model["X"].iloc[start:start + n]
    return {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}


def metrics(server: Server) -> dict[str, float]:
    text = server.request("GET", "/metrics")[2].decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(mlci_prediction_log_\w+) ([\d.e+]+)$", text, re.M)}


def wait_for(fn, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    return fn()


def row_body(*values) -> bytes:
    names = ["a", "b"][:len(values)]
    # pretty-printed on purpose: newlines in a JSON body must not break the one-line records
    return json.dumps({"dataframe_split": {"columns": names, "data": [list(values)]}}, indent=1).encode()


def lines(directory: Path) -> list[dict]:
    out = []
    for p in sorted(directory.glob("predictions-*.jsonl")):
        out += [json.loads(x) for x in p.read_text().splitlines()]
    return out


# --- in the process: the logger itself -----------------------------------------------------------------

def test_size_rotation_and_retention(tmp_path):
    plog = PredictionLog(tmp_path, max_bytes=4096, keep_files=3, flush_seconds=60, columns=["a", "b"],
                         model="m", version="7")
    for i in range(200):
        plog.log(f"id-{i}", row_body(i, i * 0.5), "application/json", b'{"predictions": [%d]}' % (i % 2), 0.001)
        if i % 5 == 4:
            plog._flush()  # what the writer thread does every flush_seconds
    plog.close()
    files = sorted(tmp_path.glob("predictions-*-w0-*.jsonl"))
    assert len(files) == 3  # older files were deleted
    for f in files:
        assert f.stat().st_size <= 4096
        head, *recs = [json.loads(x) for x in f.read_text().splitlines()]
        assert head["type"] == "header" and head["columns"] == ["a", "b"] and head["version"] == "7"
        assert recs and all(r["type"] == "prediction" for r in recs)
    last = json.loads(files[-1].read_text().splitlines()[-1])
    assert last["request_id"] == "id-199" and last["response"] == {"predictions": [1]}
    assert last["body"] == {"dataframe_split": {"columns": ["a", "b"], "data": [[199, 99.5]]}}
    assert plog.counts()["logged"] == 200 and plog.counts()["dropped"] == 0


def test_a_batch_bigger_than_a_file_is_split_across_files(tmp_path):
    # a fast server fills a whole file between two flushes: the writer still rotates at max_bytes
    plog = PredictionLog(tmp_path, max_bytes=4096, keep_files=10, flush_seconds=60, columns=["a", "b"])
    for i in range(120):
        plog.log(f"id-{i}", row_body(i, i * 0.5), "application/json", b'{"predictions": [0]}', 0.001)
    plog._flush()  # one flush of all 120 records
    plog.close()
    files = sorted(tmp_path.glob("predictions-*-w0-*.jsonl"))
    assert len(files) >= 3, [f.stat().st_size for f in files]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert len(lines(tmp_path)) == 120 + len(files)  # every record, plus one header per file


def test_time_rotation(tmp_path):
    plog = PredictionLog(tmp_path, rotate_seconds=0.01, flush_seconds=60, columns=["a"])
    plog.log("one", b"a\n1\n", "text/csv", b'{"predictions": [0]}', 0.0)
    plog._flush()
    time.sleep(0.05)
    plog.log("two", b"a\n2\n", "text/csv", b'{"predictions": [0]}', 0.0)
    plog._flush()
    plog.close()
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) == 2
    recs = [json.loads(f.read_text().splitlines()[1]) for f in files]
    assert [r["request_id"] for r in recs] == ["one", "two"]
    assert recs[0]["body_text"] == "a\n1\n" and recs[0]["content_type"] == "text/csv"


def test_sampling_rate_is_respected(tmp_path):
    plog = PredictionLog(tmp_path, sample_rate=0.25, flush_seconds=60, queue_size=100_000)
    for i in range(8000):
        plog.log(str(i), row_body(i), "application/json", b'{"predictions": [0]}', 0.0)
    plog.close()
    c = plog.counts()
    assert c["logged"] + c["sampled_out"] == 8000
    assert 0.22 < c["logged"] / 8000 < 0.28
    assert len(lines(tmp_path)) == c["logged"] + 1  # + the header
    none = PredictionLog(tmp_path / "none", sample_rate=0.0)
    none.log("x", row_body(1), "application/json", b'{"predictions": [0]}', 0.0)
    none.close()
    assert none.counts()["sampled_out"] == 1 and not list((tmp_path / "none").glob("*.jsonl"))


def test_full_buffer_drops_and_counts(tmp_path):
    plog = PredictionLog(tmp_path, queue_size=5, flush_seconds=60)
    for i in range(12):
        plog.log(str(i), row_body(i), "application/json", b'{"predictions": [0]}', 0.0)
    c = plog.counts()
    assert c["dropped"] == 7
    plog.close()
    assert plog.counts()["logged"] == 5
    assert b"mlci_prediction_log_dropped_total 7" in plog.render()


def test_request_ids(tmp_path):
    plog = PredictionLog(tmp_path)
    assert plog.request_id("abc-123") == "abc-123"
    generated = {plog.request_id(None) for _ in range(1000)}
    assert len(generated) == 1000
    assert plog.request_id("x" * 500) != "x" * 500  # too long: replaced
    assert "\x00" not in plog.request_id("bad\x00id")


# --- a running server -----------------------------------------------------------------------------------

def test_server_logs_request_ids_latency_and_proba(model, tmp_path):
    srv = Server(model["dir"], "--log-predictions", str(tmp_path / "logs"))
    try:
        status, headers, _ = srv.request("POST", "/invocations?proba=true", body(model, 2))
        assert status == 200
        generated = headers["x-request-id"]
        assert generated
        status, headers, _ = srv.request("GET", "/ping")
        assert status == 200
    finally:
        assert srv.stop() == 0
    head, rec = lines(tmp_path / "logs")
    assert head["columns"] == list(model["X"].columns) and head["classes"] == [0, 1]
    assert rec["request_id"] == generated and rec["body"] == body(model, 2)
    assert len(rec["response"]["predictions"]) == 2 and len(rec["response"]["probabilities"]) == 2
    assert rec["latency_ms"] > 0 and rec["model"] == "bc"
    assert head["dtypes"] == ["float64"] * 30


def test_server_sample_rate(model, tmp_path):
    srv = Server(model["dir"], "--workers", "2", "--log-predictions", str(tmp_path / "logs"),
                 "--log-sample-rate", "0.5")
    try:
        for i in range(200):
            assert srv.post(body(model, 1, i % 100))[0] == 200
        m = wait_for(lambda: (lambda m: m if m["mlci_prediction_log_records_total"]
                              + m["mlci_prediction_log_sampled_out_total"] == 200 else None)(metrics(srv)))
        assert m and m["mlci_prediction_log_sample_rate"] == 0.5
    finally:
        assert srv.stop() == 0
    logged = [r for r in lines(tmp_path / "logs") if r["type"] == "prediction"]
    assert len(logged) == m["mlci_prediction_log_records_total"]
    assert 60 <= len(logged) <= 140  # 100 expected; 200 draws are well inside this


def test_unwritable_directory_never_fails_a_request(model, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    srv = Server(model["dir"], "--workers", "2", "--log-predictions", str(blocker / "logs"))
    try:
        for i in range(50):
            status, out = srv.post(body(model, 1, i))
            assert status == 200 and len(out["predictions"]) == 1
        m = wait_for(lambda: (lambda m: m if m["mlci_prediction_log_dropped_total"] == 50 else None)(metrics(srv)))
        assert m and m["mlci_prediction_log_records_total"] == 0 and m["mlci_prediction_log_write_errors_total"] >= 1
        assert srv.request("GET", "/health")[0] == 200
    finally:
        assert srv.stop() == 0


def test_logging_options_from_config_and_flags(model, tmp_path, mlci):
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text("name: bc\ntask: classification\ndata: {train: x.csv, target: y}\n"
                   "monitor:\n  log: {dir: plogs, sample_rate: 1.0, max_bytes: 4096, keep_files: 2, flush_seconds: 0.05}\n")
    # one worker, so all 120 records (over 4 KiB) land in one worker's files: which of several
    # workers takes a request is the kernel's choice
    srv = Server(model["dir"], "-c", str(cfg), "--workers", "1", cwd=tmp_path)
    try:
        for i in range(120):
            assert srv.post(body(model, 1, i % 100))[0] == 200
    finally:
        assert srv.stop() == 0
    files = list((tmp_path / "plogs").glob("*.jsonl"))
    assert len(files) == 2  # rotated at 4 KiB, two kept
    r = mlci("serve", "--model", model["dir"], "--log-sample-rate", "2")
    assert r.returncode == 2 and "--log-sample-rate 2.0: expected a number from 0 to 1" in r.stderr
    r = mlci("serve", "--model", model["dir"], "--log-sample-rate", "0.5", cwd=tmp_path / "plogs")
    assert r.returncode == 2 and "needs --log-predictions" in r.stderr
