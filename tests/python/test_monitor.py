"""Monitoring end to end: traffic to a running `mlci serve`, its prediction logs, then
`mlci monitor drift` (shifted traffic -> drift, unshifted -> none) and
`mlci monitor performance` (late labels joined by request id)."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path

import pytest
from projects import breast_cancer_frame, classification_project
from serve_fixtures import Server

FEATURES = None  # set by the project fixture


@pytest.fixture(scope="module")
def project(tmp_path_factory, request):
    """A trained, evaluated, published breast-cancer model promoted to production."""
    from conftest import run_cli

    root = tmp_path_factory.mktemp("monitor")
    cfg = classification_project(root)
    r = run_cli("run", "--promote", "-c", cfg, cwd=root)
    assert r.returncode == 0, r.stderr
    frame = breast_cancer_frame()
    X = frame.drop(columns=["diagnosis", "patient_id"])
    return {"root": root, "cfg": cfg, "X": X, "y": frame["diagnosis"]}


def post(port: int, rows, columns, request_id: str | None = None, fmt: str = "split") -> tuple[int, dict, dict]:
    """One request in one of the server's wire formats (the logs must read all of them back)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if fmt == "split":
        body = json.dumps({"dataframe_split": {"columns": columns[::-1], "data": [r[::-1] for r in rows]}})
    elif fmt == "records":
        body = json.dumps({"dataframe_records": [dict(zip(columns, r)) for r in rows]}, indent=2)
    else:
        headers["Content-Type"] = "text/csv"
        body = ",".join(columns) + "\n" + "\n".join(",".join(map(repr, r)) for r in rows) + "\n"
    if request_id:
        headers["X-Request-ID"] = request_id
    conn.request("POST", "/invocations", body, headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(body)


def metric(server: Server, name: str) -> float:
    text = server.request("GET", "/metrics")[2].decode()
    m = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
    assert m, text
    return float(m.group(1))


def records(directory: Path) -> list[dict]:
    out = []
    for p in sorted(directory.glob("*.jsonl")):
        lines = p.read_text().splitlines()
        assert json.loads(lines[0])["type"] == "header"
        out += [json.loads(line) for line in lines[1:]]
    return out


def send_traffic(project, log_dir: Path, X, prefix: str, *extra: str) -> list[str]:
    """Single-row requests from X to a fresh server logging to log_dir; returns the request ids."""
    srv = Server("bc@production", "-c", str(project["cfg"]), "--workers", "2", "--log-predictions",
                 str(log_dir), *extra, cwd=project["root"])
    ids = []
    try:
        cols = list(X.columns)
        for i, row in enumerate(X.values.tolist()):
            rid = f"{prefix}-{i}"
            status, headers, out = post(srv.port, [row], cols, rid, ("split", "records", "csv")[i % 3])
            assert status == 200 and len(out["predictions"]) == 1
            assert headers["x-request-id"] == rid
            ids.append(rid)
    finally:
        assert srv.stop() == 0  # SIGTERM: the workers flush what they buffered
    return ids


@pytest.fixture(scope="module")
def unshifted_logs(project):
    X = project["X"].sample(200, random_state=1)
    d = project["root"] / "logs-unshifted"
    ids = send_traffic(project, d, X, "u")
    return {"dir": d, "ids": ids, "rows": X}


@pytest.fixture(scope="module")
def shifted_logs(project):
    X = project["X"].sample(200, random_state=2) * 1.5  # every feature 50% larger
    d = project["root"] / "logs-shifted"
    send_traffic(project, d, X, "s")
    return d


# --- drift from a running server's logs ----------------------------------------------------------

def test_unshifted_traffic_is_not_drift(project, unshifted_logs, mlci, tmp_path):
    got = records(unshifted_logs["dir"])
    assert sorted(r["request_id"] for r in got) == sorted(unshifted_logs["ids"])  # all 200, once each
    assert {r["model"] for r in got} == {"bc"} and {r["version"] for r in got} == {"1"}
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@production",
             "--current", unshifted_logs["dir"], "--out", tmp_path, cwd=project["root"])
    assert r.returncode == 0, r.stderr
    assert "drift ok" in r.stderr
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["format"] == "mlci-monitor-drift/1" and report["version"] == 1
    assert report["current"]["kind"] == "prediction-logs" and report["current"]["rows"] == 200
    assert report["drift"]["compared"] == 30 and not report["drift"]["dataset_drift"]


def test_shifted_traffic_is_drift(project, shifted_logs, mlci):
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@production", "--current", shifted_logs,
             "--json", cwd=project["root"])
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    assert report["failed"] and report["dataset_drift"]
    assert report["drift"]["drifted"] >= 25
    assert [f["name"] for f in report["failures"]] == ["drift.dataset"]  # drift.fail_on: dataset
    assert "drift FAILED" in r.stderr
    assert (project["root"] / ".mlci" / "monitor" / "drift.json").is_file()


def test_drift_of_a_data_file_and_a_single_log_file(project, shifted_logs, mlci, tmp_path):
    data = tmp_path / "current.parquet"
    project["X"].sample(150, random_state=3).to_parquet(data)
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@1", "--current", data, "--json",
             cwd=project["root"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["current"] == {"kind": "data", "path": str(data), "rows": 150}
    one = sorted(shifted_logs.glob("*.jsonl"))[0]
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@production", "--current", one,
             "--since", "1h", "--json", cwd=project["root"])
    assert r.returncode == 1 and json.loads(r.stdout)["current"]["files"] == 1


def test_drift_thresholds_come_from_the_monitor_section(project, shifted_logs, mlci, tmp_path):
    import yaml

    cfg = yaml.safe_load(project["cfg"].read_text())
    cfg["monitor"] = {"drift": {"severity": "warn"}}
    path = project["root"] / "warn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = mlci("monitor", "drift", "-c", path, "--model", "bc@production", "--current", shifted_logs,
             "--out", tmp_path, cwd=project["root"])
    assert r.returncode == 0, r.stderr  # reported, not failed
    assert json.loads((tmp_path / "drift.json").read_text())["dataset_drift"] is True


def test_drift_errors_name_the_problem(project, mlci, tmp_path):
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@staging", "--current", tmp_path,
             cwd=project["root"])
    assert r.returncode == 2 and "no alias `staging`" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@production", "--current", empty,
             cwd=project["root"])
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    r = mlci("monitor", "drift", "-c", project["cfg"], "--model", "bc@production", "--current", empty,
             "--since", "yesterday", cwd=project["root"])
    assert r.returncode == 2 and "--since 'yesterday'" in r.stderr


# --- performance: labels from the server's real traffic ------------------------------------------

def test_live_performance_from_server_logs(project, unshifted_logs, mlci, tmp_path):
    import pandas as pd

    y = project["y"].loc[unshifted_logs["rows"].index]
    labels = pd.DataFrame({"request_id": unshifted_logs["ids"], "label": y.values})
    labels = labels.iloc[:160]  # 80% of the predictions got their ground truth so far
    labels.to_csv(tmp_path / "labels.csv", index=False)
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production",
             "--logs", unshifted_logs["dir"], "--labels", tmp_path / "labels.csv", "--max-drop", "0.2",
             "--json", cwd=project["root"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["join"]["predictions"] == 200 and out["join"]["labelled"] == 160
    assert out["coverage"] == pytest.approx(0.8)
    live = {m["metric"]: m for m in out["metrics"]}
    assert set(live) == {"accuracy", "f1", "roc_auc"}
    assert live["accuracy"]["live"] > 0.9 and live["accuracy"]["evaluation"] > 0.9
    assert live["roc_auc"]["live"] is None and out["unavailable"] == ["roc_auc"]  # no probabilities logged
    assert all(g["passed"] for g in out["gates"] if g["metric"] != "roc_auc")

    # labels that say the opposite: the live gate fails
    labels["label"] = 1 - labels["label"]
    labels.to_csv(tmp_path / "wrong.csv", index=False)
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production",
             "--logs", unshifted_logs["dir"], "--labels", tmp_path / "wrong.csv", "--max-drop", "0.05",
             "--json", cwd=project["root"])
    assert r.returncode == 1 and "live performance FAILED" in r.stderr and "accuracy" in r.stderr
    failures = json.loads(r.stdout)["failures"]
    assert "accuracy" in [f["name"] for f in failures]
    assert all("dropped" in f["detail"] for f in failures)


# --- performance: the join on a constructed case ------------------------------------------------------

def write_log(path: Path, records: list[dict], columns=("a", "b"), classes=(0, 1)) -> None:
    lines = [json.dumps({"type": "header", "format": "mlci-prediction-log/1", "model": "bc", "version": "1",
                         "columns": list(columns), "classes": list(classes)})]
    lines += [json.dumps({"type": "prediction", "model": "bc", "version": "1", "latency_ms": 1.0, **r})
              for r in records]
    path.write_text("\n".join(lines) + "\n")


def test_label_join_constructed_case(project, mlci, tmp_path):
    import pandas as pd

    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs / "predictions-1.jsonl", [
        {"ts": 1.0, "request_id": "r1", "inputs": [[1, 2]], "outputs": [1]},
        {"ts": 2.0, "request_id": "r2", "inputs": [[1, 2]], "outputs": [0]},
        {"ts": 3.0, "request_id": "r3", "inputs": [[1, 2]], "outputs": [1]},   # retried below: r3 at ts 9 counts
        {"ts": 4.0, "request_id": "r4", "inputs": [[1, 2], [3, 4], [5, 6]], "outputs": [1, 0, 1]},  # 3 rows
        {"ts": 5.0, "request_id": "r5", "inputs": [[1, 2]], "outputs": [1]},   # never labelled
    ])
    write_log(logs / "predictions-2.jsonl", [
        {"ts": 9.0, "request_id": "r3", "inputs": [[1, 2]], "outputs": [0]},
    ])
    (logs / "predictions-2.jsonl").open("a").write('{"type": "prediction", "ts": 10, "request_')  # cut short
    labels = pd.DataFrame({
        "rid": ["r1", "r2", "r2", "r3", "r4", "r4", "r4", "r6", "r1"],
        "row": [0, 0, 0, 0, 0, 1, 2, 0, 0],
        "truth": ["1", "1", "0", "0", "1", "1", None, "1", "1"],
    })
    # r1: 1 vs 1 (twice, same label); r2: labelled 1 then corrected to 0 -> 0 vs pred 0;
    # r3: latest prediction 0 vs 0; r4 row0 1 vs 1, row1 0 vs 1 (wrong), row2 label missing;
    # r5 unlabelled; r6 labelled but never logged
    labels.to_csv(tmp_path / "labels.csv", index=False)
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production", "--logs", logs,
             "--labels", tmp_path / "labels.csv", "--id-column", "rid", "--label-column", "truth",
             "--min-labels", "1", "--json", "--out", tmp_path, cwd=project["root"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["join"] == {"predictions": 7, "duplicate_predictions": 1, "labels": 9, "missing_labels": 1,
                           "duplicate_labels": 2, "conflicting_labels": 1, "labelled": 5,
                           "unmatched_labels": 1, "unlabelled": 2}
    assert out["coverage"] == pytest.approx(5 / 7)
    assert out["logs"]["bad_lines"] == 1
    live = {m["metric"]: m["live"] for m in out["metrics"]}
    assert live["accuracy"] == pytest.approx(4 / 5)
    assert json.loads((tmp_path / "performance.json").read_text())["join"]["labelled"] == 5


def test_performance_gates_wait_for_enough_labels(project, mlci, tmp_path):
    import pandas as pd

    write_log(tmp_path / "p.jsonl", [{"ts": 1.0, "request_id": "a", "inputs": [[1, 2]], "outputs": [0]}])
    pd.DataFrame({"request_id": ["a"], "label": [1]}).to_csv(tmp_path / "l.csv", index=False)
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production", "--logs",
             tmp_path / "p.jsonl", "--labels", tmp_path / "l.csv", "--max-drop", "0.01", cwd=project["root"])
    assert r.returncode == 0, r.stderr  # accuracy 0, but 1 label is too few to judge
    assert "fewer than 30 labels, gates not judged" in r.stderr
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production", "--logs",
             tmp_path / "p.jsonl", "--labels", tmp_path / "l.csv", "--label-column", "y", cwd=project["root"])
    assert r.returncode == 2 and "no column `y`" in r.stderr


def test_probabilities_in_logged_responses_give_roc_auc(project, mlci, tmp_path):
    """Records as the server writes them (body and response embedded): the reader parses the
    body with the wire formats and takes probabilities from the response."""
    import pandas as pd

    header = {"type": "header", "format": "mlci-prediction-log/1", "model": "bc", "version": "1",
              "columns": ["a", "b"], "dtypes": ["float64", "float64"], "classes": [0, 1]}
    recs = []
    truth = []
    for i in range(40):
        p1 = (i % 10) / 10 + 0.05
        label = int(p1 > 0.5)
        recs.append({"type": "prediction", "ts": float(i), "request_id": f"q{i}", "model": "bc", "version": "1",
                     "latency_ms": 0.5, "content_type": "application/json",
                     "body": {"dataframe_records": [{"b": i, "a": -i}]},
                     "response": {"predictions": [label], "classes": [0, 1], "probabilities": [[1 - p1, p1]]}})
        truth.append(label if i % 4 else 1 - label)  # every 4th prediction is wrong
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(x) for x in [header, *recs]) + "\n")
    pd.DataFrame({"request_id": [f"q{i}" for i in range(40)], "label": truth}).to_csv(tmp_path / "l.csv", index=False)
    r = mlci("monitor", "performance", "-c", project["cfg"], "--model", "bc@production", "--logs",
             tmp_path / "p.jsonl", "--labels", tmp_path / "l.csv", "--json", cwd=project["root"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    live = {m["metric"]: m["live"] for m in out["metrics"]}
    assert live["accuracy"] == pytest.approx(30 / 40)
    assert live["roc_auc"] is not None and out["unavailable"] == []
    assert out["logs"]["rows"] == 40 and out["logs"]["bad_lines"] == 0
