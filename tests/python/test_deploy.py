"""`mlci deploy` against the real Docker daemon and registry.

Needs tests/setup.d: dockerd, the offline base image mlci-test/python:3.11-slim and
docker-registry on 127.0.0.1:5000. The model images are tiny stand-ins for `mlci serve`
(the base image plus a 40-line server that answers /health and /invocations with its
version), pushed to the registry so that they have digests, and recorded on registered
versions the way `mlci image push` records them. The tests share one model and run in
file order: v1, v2 (switch under load), broken v3, rollback, status, bad input.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from docker_fixtures import BASE, REGISTRY, docker_client, free_port


SERVER = r'''
import itertools, json, os, signal, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
VERSION = open("/srv/version").read().strip()
BROKEN = os.path.exists("/srv/broken")
# /srv/errors holds N: every Nth prediction is answered 500 (a version that fails in production)
EVERY = int(open("/srv/errors").read()) if os.path.exists("/srv/errors") else 0
COUNTS, LOCK, SEQ = {}, threading.Lock(), itertools.count(1)
# with MLCI_LOG_PREDICTIONS set, the inputs are logged as `mlci serve` logs them (monitor.predlog)
LOG_DIR = os.environ.get("MLCI_LOG_PREDICTIONS")
if LOG_DIR:
    os.makedirs(LOG_DIR, exist_ok=True)
    with open(f"{LOG_DIR}/predictions-standin.jsonl", "w") as f:
        f.write(json.dumps({"type": "header", "columns": ["x"], "dtypes": ["float64"]}) + "\n")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for an ACK
    def log_message(self, *a): pass
    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/metrics":  # the lines of mlci serve's /metrics that a canary reads
            with LOCK:
                lines = [f'mlci_requests_total{{endpoint="invocations",code="{c}"}} {n}' for c, n in COUNTS.items()]
            lines += ['mlci_request_duration_seconds_bucket{le="0.1"} %d' % sum(COUNTS.values()),
                      'mlci_request_duration_seconds_bucket{le="+Inf"} %d' % sum(COUNTS.values())]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        if self.path == "/health":
            return self.reply(500 if BROKEN else 200, {"status": "broken" if BROKEN else "ok", "version": VERSION})
        self.reply(404, {"error": "not found"})
    def do_POST(self):
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        rows = doc.get("dataframe_records")
        if not isinstance(rows, list):
            return self.reply(400, {"error": "expected dataframe_records"})
        fail = EVERY and next(SEQ) % EVERY == 0
        if LOG_DIR:
            with LOCK, open(f"{LOG_DIR}/predictions-standin.jsonl", "a") as f:
                f.write(json.dumps({"type": "prediction", "version": VERSION, "inputs": [[r.get("x")] for r in rows],
                                    "response": {"predictions": [1]}}) + "\n")
        with LOCK:
            COUNTS[500 if fail else 200] = COUNTS.get(500 if fail else 200, 0) + 1
        if fail:
            return self.reply(500, {"error": "internal", "model_version": VERSION})
        self.reply(200, {"predictions": [int(r.get("x", 0) > 0) for r in rows], "model_version": VERSION})

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 gets no default SIGTERM action
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
'''

EXAMPLES = [
    {"name": "positive", "request": {"dataframe_records": [{"x": 3}, {"x": -1}]}, "expected": [1, 0]},
    {"name": "bad body", "request": {"rows": []}, "status": 400},
]



def _build_and_push(client, tmp: Path, repo: str, version: str, broken: bool = False, errors: int = 0) -> str:
    ctx = tmp / f"ctx-{version}"
    ctx.mkdir()
    (ctx / "server.py").write_text(SERVER)
    (ctx / "version").write_text(version)
    extra = "\nRUN touch /srv/broken" if broken else ""
    extra += f"\nRUN echo {errors} > /srv/errors" if errors else ""
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nCOPY server.py version /srv/{extra}\n"
                                    "USER 65534\nCMD [\"python3\", \"/srv/server.py\"]\n")
    image, _ = client.images.build(path=str(ctx), tag=f"{repo}:v{version}", rm=True)
    digest = None
    for chunk in client.api.push(repo, tag=f"v{version}", stream=True, decode=True):
        assert "error" not in chunk, chunk
        digest = (chunk.get("aux") or {}).get("Digest") or digest
    assert digest
    return digest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    client = docker_client()
    from mlci.registry import Registry
    from mlci.store import open_store
    from mlci.util import dumps

    root = tmp_path_factory.mktemp("deploy")
    model = f"dep{uuid.uuid4().hex[:6]}"
    repo = f"{REGISTRY}/mlci-test/{model}"
    port, canary_port, drift_port = free_port(), free_port(), free_port()
    (root / "examples.json").write_text(json.dumps(EXAMPLES))
    config = {
        "name": model, "task": "classification",
        "data": {"train": "data/train.csv", "target": "y"},
        # the proxy image is built from image.base (the offline base image here)
        "image": {"repository": repo, "base": BASE, "verify": {"examples": "examples.json"}},
        "deploy": {
            "staging": {"target": "docker", "port": port, "bind": "127.0.0.1", "health_timeout": 15,
                        "stop_timeout": 2, "memory": "256m", "cpus": 0.5, "env": {"LOG_LEVEL": "info"}},
            "live": {"target": "docker", "port": canary_port, "bind": "127.0.0.1", "health_timeout": 15,
                     "stop_timeout": 2, "canary": {"weight": 50, "duration": 20, "interval": 1,
                                                   "min_requests": 10, "max_error_rate": 0.1}},
            "logged": {"target": "docker", "port": drift_port, "bind": "127.0.0.1", "health_timeout": 15,
                       "stop_timeout": 2, "env": {"MLCI_LOG_PREDICTIONS": "/tmp/predictions"},
                       "canary": {"weight": 50, "duration": 20, "interval": 1, "min_requests": 10}},
            "production": {"target": "kubernetes", "namespace": "ml", "replicas": 2, "gpus": 1,
                           "cpus": 1.5, "memory": "2g", "port": 80, "rollout_timeout": 30},
        },
    }
    (root / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    registry = Registry(open_store(".mlci/store", root), model)
    # v2's training data had x ~ N(0, 1): its published run holds those reference statistics
    import numpy as np
    import pandas as pd
    from mlci.validation import reference_stats, write_reference_stats

    write_reference_stats(reference_stats(pd.DataFrame({"x": np.random.default_rng(0).normal(0, 1, 2000)})),
                          root / "reference_stats.json")
    registry.store.publish_run("run2", {"reference_stats.json": root / "reference_stats.json"})
    for v in ("1", "2", "3", "4", "5"):
        rec, _ = registry.register({"fingerprint": f"fp{v}", "run_id": f"run{v}", "blessed": True})
        if v == "4":
            continue  # a version nobody built an image for
        # v3 never becomes healthy; v5 is healthy but answers every 2nd prediction with a 500
        digest = _build_and_push(client, root, repo, v, broken=(v == "3"), errors=2 if v == "5" else 0)
        key = f"models/{model}/versions/{rec['version']}.json"
        rec["images"] = [{"repository": repo, "digest": digest, "tags": [f"v{v}"]}]
        registry.store.put_bytes(key, dumps(rec))
    yield {"root": root, "cfg": root / "mlci.yaml", "model": model, "port": port, "client": client,
           "registry": registry, "repo": repo, "canary_port": canary_port, "drift_port": drift_port}
    for c in client.containers.list(all=True, filters={"label": f"org.mlci.model={model}"}):
        c.remove(force=True)
    for n in client.networks.list(filters={"label": f"org.mlci.model={model}"}):
        n.remove()
    for v in ("1", "2", "3", "5"):
        try:
            client.images.remove(f"{repo}:v{v}", force=True)
        except Exception:  # noqa: BLE001
            pass


def ask(port: int) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/invocations", body=json.dumps({"dataframe_records": [{"x": 1}]}),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def containers(project) -> list[str]:
    return sorted(c.name for c in project["client"].containers.list(
        all=True, filters={"label": f"org.mlci.model={project['model']}"}))


def deploy_events(project) -> list[dict]:
    return [e for e in project["registry"].history() if e["event"] == "deploy"]


def test_deploy_v1_serves_it_behind_the_proxy_and_records_the_event(project, mlci):
    r = mlci("deploy", "-c", project["cfg"], "--env", "staging", "--model", f"{project['model']}@1",
             env={"MLCI_ACTOR": "alice", "BUILD_URL": "http://jenkins/job/x/7/"})
    assert r.returncode == 0, r.stderr
    assert f"deployed: {project['model']} v1 -> staging" in r.stderr
    assert ask(project["port"]) == (200, {"predictions": [1], "model_version": "1"})
    name = f"mlci-{project['model']}-staging"
    assert containers(project) == [f"{name}-blue", f"{name}-proxy"]
    c = project["client"].containers.get(f"{name}-blue")
    host = c.attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 * 1024
    assert "LOG_LEVEL=info" in c.attrs["Config"]["Env"]
    assert c.attrs["Config"]["Image"].startswith(f"{project['repo']}@sha256:")
    proxy = project["client"].containers.get(f"{name}-proxy")
    assert proxy.attrs["HostConfig"]["PortBindings"]["8080/tcp"] == [{"HostIp": "127.0.0.1",
                                                                      "HostPort": str(project["port"])}]
    [event] = deploy_events(project)
    assert event["environment"] == "staging" and event["version"] == 1 and event["status"] == "succeeded"
    assert event["actor"] == "alice" and event["build"]["url"] == "http://jenkins/job/x/7/"
    assert event["digest"].startswith("sha256:") and event["previous"] is None


class Client:
    """Sends a prediction every 10 ms, on one keep-alive connection and on a new connection
    each time, and records every outcome: `v<N>` for a 200 from version N, else what went wrong."""

    def __init__(self, port: int):
        self.port, self.stop = port, threading.Event()
        self.seen: dict[str, list[str]] = {"keep-alive": [], "new connections": []}
        self.slowest = {kind: 0.0 for kind in self.seen}
        self.threads = [threading.Thread(target=self._run, args=(kind,)) for kind in self.seen]

    def _run(self, kind: str) -> None:
        body = json.dumps({"dataframe_records": [{"x": 1}]})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            if kind == "new connections":
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            sent = time.monotonic()
            try:
                conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                doc = json.loads(resp.read())
                ok = resp.status == 200 and doc.get("predictions") == [1]
                self.seen[kind].append(f"v{doc.get('model_version')}" if ok else f"{resp.status}:{doc}")
            except ConnectionRefusedError:
                self.seen[kind].append("refused")
                conn.close()
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.seen[kind].append(f"failed:{type(exc).__name__}")
                conn.close()
            self.slowest[kind] = max(self.slowest[kind], time.monotonic() - sent)
            if kind == "new connections":
                conn.close()
            time.sleep(0.01)
        conn.close()

    def __enter__(self) -> "Client":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def phases(answers: list[str]) -> list[str]:
    """The versions in the order they answered, repeats collapsed: [v1, v2, v1]."""
    return [a for i, a in enumerate(answers) if i == 0 or answers[i - 1] != a]


def test_deploy_rollback_and_a_failing_candidate_drop_no_request(project, mlci):
    """The acceptance test of issue 24: v1 -> v2 -> rollback to v1 -> broken v3, under traffic."""
    model, cfg, port = project["model"], project["cfg"], project["port"]
    name = f"mlci-{model}-staging"
    with Client(port) as client:
        time.sleep(0.3)
        r2 = mlci("deploy", "-c", cfg, "--env", "staging", "--model", f"{model}@2", "--json")
        time.sleep(0.3)
        back = mlci("deploy", "rollback", "-c", cfg, "--env", "staging")
        time.sleep(0.3)
        r3 = mlci("deploy", "-c", cfg, "--env", "staging", "--model", f"{model}@3", "--json")
        time.sleep(0.3)
    # the client: nothing refused, nothing failed, only known versions, in the order deployed
    for kind, seen in client.seen.items():
        print(f"{kind}: {len(seen)} requests, {seen.count('v1')} v1, {seen.count('v2')} v2, "
              f"{sum(s not in ('v1', 'v2') for s in seen)} refused or failed, "
              f"slowest answer {client.slowest[kind] * 1000:.0f} ms")
        assert len(seen) > 50, kind
        assert [s for s in seen if s not in ("v1", "v2")] == [], kind
        assert phases(seen) == ["v1", "v2", "v1"], kind
    assert r2.returncode == 0, r2.stderr
    out = json.loads(r2.stdout)
    assert out["version"] == 2 and out["previous"]["version"] == 1
    assert out["result"]["switch_s"] is not None and out["result"]["proxy"] == f"{name}-proxy"
    print(f"v2: proxy switched (reload + drain) in {out['result']['switch_s']} s")

    assert back.returncode == 0, back.stderr
    assert f"rolled back: {model} v1 -> staging (was v2)" in back.stderr
    events = deploy_events(project)
    assert events[-2]["rollback"] is True and events[-2]["version"] == 1 and events[-2]["previous"]["version"] == 2

    assert r3.returncode == 1
    assert "health check failed" in r3.stderr and "the old version keeps serving" in r3.stderr
    assert events[-1]["version"] == 3 and events[-1]["status"] == "failed"
    assert "health check failed" in events[-1]["reason"]
    failures = json.loads(r3.stdout)["failures"]  # printed by the CLI edge from the CheckFailed
    assert [f["name"] for f in failures] == ["deploy"] and "health check failed" in failures[0]["detail"]

    # v1 serves, from the slot it was rolled back into; v3's container is gone
    assert ask(port) == (200, {"predictions": [1], "model_version": "1"})
    assert len(containers(project)) == 2 and f"{name}-proxy" in containers(project)
    # nothing before v1: a second rollback has nowhere to go
    r = mlci("deploy", "rollback", "-c", cfg, "--env", "staging")
    assert r.returncode == 2 and "no previous deployment" in r.stderr


def test_a_candidate_that_crashes_is_refused_at_once_despite_its_restart_policy(project, mlci):
    doc = yaml.safe_load(project["cfg"].read_text())
    doc["deploy"]["staging"]["env"] = {"PYTHONHOME": "/nonexistent"}      # the server cannot start
    doc["deploy"]["staging"]["health_timeout"] = 120
    crashing = project["root"] / "crashing.yaml"
    crashing.write_text(yaml.safe_dump(doc))
    started = time.monotonic()
    r = mlci("deploy", "-c", crashing, "--env", "staging", "--model", f"{project['model']}@3")
    assert r.returncode == 1 and "container exited with status" in r.stderr, r.stderr
    assert time.monotonic() - started < 60            # not the 120 s health timeout
    assert ask(project["port"])[1]["model_version"] == "1"


def canary_events(project) -> list[dict]:
    return [e for e in project["registry"].history() if e["event"] == "canary" and e["environment"] == "live"]


def test_canary_within_bounds_is_promoted(project, mlci):
    model, cfg, port = project["model"], project["cfg"], project["canary_port"]
    r = mlci("deploy", "-c", cfg, "--env", "live", "--model", f"{model}@1")
    assert r.returncode == 0, r.stderr      # the first deploy: nothing to share traffic with
    assert canary_events(project) == []
    with Client(port) as client:
        r = mlci("deploy", "-c", cfg, "--env", "live", "--model", f"{model}@2", "--json")
    assert r.returncode == 0, r.stderr
    steps = [(e["step"], e["version"]) for e in canary_events(project)]
    assert steps[0] == ("started", 2) and steps[-1] == ("promoted", 2)
    assert {s for s, _ in steps[1:-1]} == {"observed"} and len(steps) == 2 + 20
    promoted = canary_events(project)[-1]
    assert promoted["requests"] >= 10 and promoted["error_rate"] == 0
    assert json.loads(r.stdout)["result"]["canary"]["weight"] == 50
    for kind, seen in client.seen.items():
        assert [s for s in seen if s not in ("v1", "v2")] == [], kind
        assert 0.2 < seen[: len(seen) * 3 // 4].count("v2") / (len(seen) * 3 // 4) < 0.8, kind  # ~50% during
    assert ask(port)[1]["model_version"] == "2"


def test_canary_that_fails_requests_is_rolled_back_by_itself(project, mlci):
    model, cfg, port = project["model"], project["cfg"], project["canary_port"]
    started = time.monotonic()
    with Client(port) as client:
        r = mlci("deploy", "-c", cfg, "--env", "live", "--model", f"{model}@5")
        time.sleep(0.5)
    took = time.monotonic() - started
    assert r.returncode == 1, r.stderr
    assert "canary rolled back" in r.stderr and "max_error_rate" in r.stderr
    events = [e for e in canary_events(project) if e["version"] == 5]
    assert [e["step"] for e in events][0] == "started" and events[-1]["step"] == "rolled_back"
    assert events[-1]["error_rate"] > 0.1 and events[-1]["elapsed_s"] < 20   # within the window
    assert "error rate" in events[-1]["reason"] and events[-1]["actor"]
    assert took < 20 + 15
    [failed] = [e for e in deploy_events(project) if e["version"] == 5]
    assert failed["status"] == "failed" and failed["environment"] == "live" and "canary" in failed["reason"]
    # v2 kept serving; the only failures the client saw were v5's 500s during the canary
    for kind, seen in client.seen.items():
        assert {s.split(":")[0] for s in seen} <= {"v2", "v5", "500"}, kind
        assert "refused" not in seen and not any(s.startswith("failed") for s in seen), kind
        assert seen[-10:] == ["v2"] * 10, kind
    assert ask(port)[1]["model_version"] == "2"
    name = f"mlci-{model}-live"
    assert len([c for c in containers(project) if c.startswith(name)]) == 2


def test_canary_whose_inputs_drift_is_rolled_back_by_itself(project, mlci):
    """The client sends x = 1 every time; v2 was trained on x ~ N(0, 1)."""
    model, cfg, port = project["model"], project["cfg"], project["drift_port"]
    r = mlci("deploy", "-c", cfg, "--env", "logged", "--model", f"{model}@1")
    assert r.returncode == 0, r.stderr
    with Client(port) as client:
        r = mlci("deploy", "-c", cfg, "--env", "logged", "--model", f"{model}@2")
        time.sleep(0.3)
    assert r.returncode == 1, r.stderr
    assert "canary rolled back" in r.stderr and "input drift" in r.stderr
    events = [e for e in project["registry"].history() if e["event"] == "canary" and e["environment"] == "logged"]
    assert [e["step"] for e in events][0] == "started" and events[0]["bounds"]["drift"] is True
    assert events[-1]["step"] == "rolled_back" and events[-1]["reason"].startswith("input drift")
    assert events[-1]["drift"]["failed"] is True and events[-1]["error_rate"] == 0
    for kind, seen in client.seen.items():
        assert [s for s in seen if s not in ("v1", "v2")] == [], kind
        assert seen[-10:] == ["v1"] * 10, kind
    assert ask(port)[1]["model_version"] == "1"


def _start_canary(project, version: int):
    """`mlci deploy` of ``version`` to `live` in the background, returned once its canary runs."""
    import subprocess
    import sys

    from conftest import cli_env

    proc = subprocess.Popen([sys.executable, "-m", "mlci", "deploy", "-c", str(project["cfg"]), "--env", "live",
                             "--model", f"{project['model']}@{version}"], env=cli_env(None),
                            stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # bounded: until the canary has started (the new version beside the old)
        if sum(e["version"] == version and e["step"] == "started" for e in canary_events(project)) > \
                sum(e["version"] == version and e["step"] == "rolled_back" for e in canary_events(project)):
            break
        time.sleep(0.1)
    time.sleep(1)
    return proc


def test_an_aborted_canary_switches_back_at_once(project, mlci):
    """Jenkins aborts a build with SIGTERM: the canary ends, the old version gets everything."""
    import signal

    port = project["canary_port"]
    with Client(port) as client:
        proc = _start_canary(project, 1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        time.sleep(0.3)
    assert proc.returncode == 1 and "the canary was interrupted" in err, err
    assert canary_events(project)[-1]["step"] == "rolled_back" and "interrupted" in canary_events(project)[-1]["reason"]
    assert deploy_events(project)[-1]["status"] == "failed" and deploy_events(project)[-1]["version"] == 1
    for kind, seen in client.seen.items():
        assert [s for s in seen if s not in ("v1", "v2")] == [], kind
        assert seen[-10:] == ["v2"] * 10, kind
    name = f"mlci-{project['model']}-live"
    assert len([c for c in containers(project) if c.startswith(name)]) == 2


def test_a_deploy_killed_during_its_canary_is_rolled_back_by_the_next_one(project, mlci):
    model, cfg, port = project["model"], project["cfg"], project["canary_port"]
    with Client(port) as client:
        killed = _start_canary(project, 1)
        killed.kill()       # SIGKILL: nothing of mlci runs on
        killed.communicate()
        # the split stays as the killed deploy left it: give a loaded machine time to show it (bounded)
        for _ in range(100):
            if {s.split(":")[0] for s in client.seen["new connections"][-20:]} == {"v1", "v2"}:
                break
            time.sleep(0.1)
        assert {s.split(":")[0] for s in client.seen["new connections"][-20:]} == {"v1", "v2"}  # both serve
        r = mlci("deploy", "-c", cfg, "--env", "live", "--model", f"{model}@2", "--no-canary")
        time.sleep(0.3)
    assert r.returncode == 0, r.stderr
    assert "an earlier canary was interrupted" in r.stderr
    for kind, seen in client.seen.items():
        assert [s for s in seen if s not in ("v1", "v2")] == [], kind
        assert seen[-10:] == ["v2"] * 10, kind
    name = f"mlci-{model}-live"
    assert len([c for c in containers(project) if c.startswith(name)]) == 2


def test_status_shows_what_runs_where(project, mlci):
    r = mlci("deploy", "status", "-c", project["cfg"], "--json", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    envs = {e["environment"]: e for e in json.loads(r.stdout)["environments"]}
    staging = envs["staging"]
    assert staging["version"] == 1 and staging["live"]["state"] == "healthy"
    assert staging["live"]["version"] == "1"
    assert staging["live"]["servers"] == [{"container": f"mlci-{project['model']}-staging-blue",
                                           "version": 1, "weight": 100}]
    assert staging["last_attempt"]["status"] == "failed" and staging["last_attempt"]["version"] == 3
    assert envs["live"]["version"] == 2 and len(envs["live"]["live"]["servers"]) == 1
    assert envs["production"]["version"] is None
    r = mlci("deploy", "status", "-c", project["cfg"], "--env", "staging")
    assert r.returncode == 0 and "staging" in r.stderr and "v1" in r.stderr and "healthy" in r.stderr


def test_bad_input_exit_codes(project, mlci):
    cfg, model = project["cfg"], project["model"]
    r = mlci("deploy", "-c", cfg, "--env", "stagin")
    assert r.returncode == 2
    assert "unknown environment `stagin` (did you mean `staging`?)" in r.stderr
    assert "production, staging" in r.stderr
    r = mlci("deploy", "-c", cfg, "--env", "staging", "--model", f"{model}@4")
    assert r.returncode == 2 and "has no pushed image" in r.stderr and "mlci image" in r.stderr
    doc = yaml.safe_load(cfg.read_text())
    doc["deploy"]["staging"]["docker_host"] = f"tcp://127.0.0.1:{free_port()}"
    bad = project["root"] / "unreachable.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = mlci("deploy", "-c", bad, "--env", "staging", "--model", f"{model}@2")
    assert r.returncode == 3 and "connecting to the Docker daemon at tcp://127.0.0.1:" in r.stderr
    assert ask(project["port"])[1]["model_version"] == "1"  # untouched


def test_docker_gpu_request_and_limits_in_the_container_options(tmp_path):
    """GPUs can't run here: check the options handed to the Docker API instead."""
    from mlci import config
    from mlci.deploy import core
    from mlci.deploy import docker as target

    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "regression", "data": {"train": "t.csv", "target": "y"},
        "deploy": {"gpu": {"target": "docker", "gpus": "all", "memory": "2Gi", "cpus": 4},
                   "one": {"target": "docker", "gpus": 1, "docker_host": "ssh://deploy@gpu01", "port": 9000}}}))
    cfg = config.load(tmp_path / "mlci.yaml")
    rel = core.Release("m", 3, "r/m@sha256:" + "0" * 64, "r/m", "sha256:" + "0" * 64)
    opts = target.run_options(cfg, "gpu", cfg.deploy["gpu"], rel, "serving")
    [req] = opts["device_requests"]
    assert req["Count"] == -1 and req["Capabilities"] == [["gpu"]]
    assert opts["mem_limit"] == "2g" and opts["nano_cpus"] == 4_000_000_000
    assert opts["labels"]["org.mlci.version"] == "3" and opts["labels"]["org.mlci.environment"] == "gpu"
    one = cfg.deploy["one"]
    assert target.run_options(cfg, "one", one, rel, "serving")["device_requests"][0]["Count"] == 1
    assert target.live_url(one) == "http://gpu01:9000"  # the remote daemon's host


def test_rollback_replays_deploy_events_as_a_stack():
    from mlci.deploy.core import deployed_stack

    def ev(version, status="succeeded", rollback=False):
        return {"version": version, "status": status, "rollback": rollback}

    events = [ev(1), ev(2), ev(3), ev(4, "failed")]
    assert [e["version"] for e in deployed_stack(events)] == [1, 2, 3]
    events += [ev(2, rollback=True)]
    assert [e["version"] for e in deployed_stack(events)] == [1, 2]
    events += [ev(1, rollback=True)]
    assert [e["version"] for e in deployed_stack(events)] == [1]
    events += [ev(3), ev(3)]  # redeploying the same version is not a new step
    assert [e["version"] for e in deployed_stack(events)] == [1, 3]
