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
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from docker_fixtures import BASE, REGISTRY, docker_client, free_port


SERVER = r'''
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
VERSION = open("/srv/version").read().strip()
BROKEN = os.path.exists("/srv/broken")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/health":
            return self.reply(500 if BROKEN else 200, {"status": "broken" if BROKEN else "ok", "version": VERSION})
        self.reply(404, {"error": "not found"})
    def do_POST(self):
        doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        rows = doc.get("dataframe_records")
        if not isinstance(rows, list):
            return self.reply(400, {"error": "expected dataframe_records"})
        self.reply(200, {"predictions": [int(r.get("x", 0) > 0) for r in rows], "model_version": VERSION})

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 gets no default SIGTERM action
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
'''

EXAMPLES = [
    {"name": "positive", "request": {"dataframe_records": [{"x": 3}, {"x": -1}]}, "expected": [1, 0]},
    {"name": "bad body", "request": {"rows": []}, "status": 400},
]






def _build_and_push(client, tmp: Path, repo: str, version: str, broken: bool = False) -> str:
    ctx = tmp / f"ctx-{version}"
    ctx.mkdir()
    (ctx / "server.py").write_text(SERVER)
    (ctx / "version").write_text(version)
    extra = "\nRUN touch /srv/broken" if broken else ""
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
    port = free_port()
    (root / "examples.json").write_text(json.dumps(EXAMPLES))
    config = {
        "name": model, "task": "classification",
        "data": {"train": "data/train.csv", "target": "y"},
        "image": {"repository": repo, "verify": {"examples": "examples.json"}},
        "deploy": {
            "staging": {"target": "docker", "port": port, "bind": "127.0.0.1", "health_timeout": 15,
                        "stop_timeout": 2, "memory": "256m", "cpus": 0.5, "env": {"LOG_LEVEL": "info"}},
            "production": {"target": "kubernetes", "namespace": "ml", "replicas": 2, "gpus": 1,
                           "cpus": 1.5, "memory": "2g", "port": 80, "rollout_timeout": 30},
        },
    }
    (root / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    registry = Registry(open_store(".mlci/store", root), model)
    for v in ("1", "2", "3", "4"):
        rec, _ = registry.register({"fingerprint": f"fp{v}", "run_id": f"run{v}", "blessed": True})
        if v == "4":
            continue  # a version nobody built an image for
        digest = _build_and_push(client, root, repo, v, broken=(v == "3"))
        key = f"models/{model}/versions/{rec['version']}.json"
        rec["images"] = [{"repository": repo, "digest": digest, "tags": [f"v{v}"]}]
        registry.store.put_bytes(key, dumps(rec))
    yield {"root": root, "cfg": root / "mlci.yaml", "model": model, "port": port, "client": client,
           "registry": registry, "repo": repo}
    for c in client.containers.list(all=True, filters={"label": f"org.mlci.model={model}"}):
        c.remove(force=True)
    for v in ("1", "2", "3"):
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


def test_deploy_v1_serves_it_and_records_the_event(project, mlci):
    r = mlci("deploy", "-c", project["cfg"], "--env", "staging", "--model", f"{project['model']}@1",
             env={"MLCI_ACTOR": "alice", "BUILD_URL": "http://jenkins/job/x/7/"})
    assert r.returncode == 0, r.stderr
    assert f"deployed: {project['model']} v1 -> staging" in r.stderr
    assert ask(project["port"]) == (200, {"predictions": [1], "model_version": "1"})
    assert containers(project) == [f"mlci-{project['model']}-staging"]
    c = project["client"].containers.get(f"mlci-{project['model']}-staging")
    host = c.attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 * 1024
    assert "LOG_LEVEL=info" in c.attrs["Config"]["Env"]
    assert c.attrs["Config"]["Image"].startswith(f"{project['repo']}@sha256:")
    [event] = deploy_events(project)
    assert event["environment"] == "staging" and event["version"] == 1 and event["status"] == "succeeded"
    assert event["actor"] == "alice" and event["build"]["url"] == "http://jenkins/job/x/7/"
    assert event["digest"].startswith("sha256:") and event["previous"] is None


def test_deploy_v2_switches_answers_and_the_only_gap_is_refused_connections(project, mlci):
    port = project["port"]
    seen: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                status, doc = ask(port)
                seen.append(f"{status}:v{doc.get('model_version')}")
            except (ConnectionError, http.client.HTTPException, socket.timeout, OSError) as exc:
                # refused, or cut mid-answer by the stand-in server's abrupt stop: the gap either way
                seen.append(f"refused:{type(exc).__name__}")
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        r = mlci("deploy", "-c", project["cfg"], "--env", "staging", "--model", f"{project['model']}@2", "--json")
    finally:
        stop.set()
        poller.join()
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["version"] == 2 and out["previous"]["version"] == 1
    assert ask(port) == (200, {"predictions": [1], "model_version": "2"})
    answered = [s for s in seen if not s.startswith("refused")]
    # every answer is a correct 200; v1 answers until the switch, then only v2
    assert answered and set(answered) <= {"200:v1", "200:v2"}
    assert answered == sorted(answered), "served v1 again after v2"
    assert "200:v1" in answered[:1]
    # the gap: connections refused while the old container stops and the new one starts
    refused = [s for s in seen if s.startswith("refused")]
    print(f"switch gap {out['result']['switch_gap_s']}s; {len(refused)} of {len(seen)} polls refused")
    assert out["result"]["switch_gap_s"] is not None
    assert containers(project) == [f"mlci-{project['model']}-staging"]


def test_broken_v3_is_removed_and_v2_keeps_serving(project, mlci):
    r = mlci("deploy", "-c", project["cfg"], "--env", "staging", "--model", f"{project['model']}@3", "--json")
    assert r.returncode == 1
    assert "health check failed" in r.stderr and "the old version keeps serving" in r.stderr
    failures = json.loads(r.stdout)["failures"]  # printed by the CLI edge from the CheckFailed
    assert [f["name"] for f in failures] == ["deploy"] and "health check failed" in failures[0]["detail"]
    assert ask(project["port"]) == (200, {"predictions": [1], "model_version": "2"})
    assert containers(project) == [f"mlci-{project['model']}-staging"]  # the candidate is gone
    last = deploy_events(project)[-1]
    assert last["version"] == 3 and last["status"] == "failed" and "health check failed" in last["reason"]


def test_rollback_returns_the_previous_version(project, mlci):
    r = mlci("deploy", "rollback", "-c", project["cfg"], "--env", "staging")
    assert r.returncode == 0, r.stderr
    assert f"rolled back: {project['model']} v1 -> staging (was v2)" in r.stderr
    assert ask(project["port"]) == (200, {"predictions": [1], "model_version": "1"})
    last = deploy_events(project)[-1]
    assert last["rollback"] is True and last["version"] == 1 and last["previous"]["version"] == 2
    # nothing before v1: a second rollback has nowhere to go
    r = mlci("deploy", "rollback", "-c", project["cfg"], "--env", "staging")
    assert r.returncode == 2 and "no previous deployment" in r.stderr


def test_status_shows_what_runs_where(project, mlci):
    r = mlci("deploy", "status", "-c", project["cfg"], "--json", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    envs = {e["environment"]: e for e in json.loads(r.stdout)["environments"]}
    staging = envs["staging"]
    assert staging["version"] == 1 and staging["live"]["state"] == "healthy"
    assert staging["live"]["version"] == "1"
    assert staging["last_attempt"]["status"] == "succeeded"
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
