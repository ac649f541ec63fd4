"""mlci doctor: real store probes (local directory, S3 via moto's server), the real Docker
daemon, and local HTTP servers that answer like a registry (/v2/) and Jenkins (/api/json)."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import missing_part

TOKEN = "s3cr3t-jenkins-token-1234"


def make_config(root: Path, extra: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cfg = {"name": "doc", "task": "classification", "data": {"train": "train.csv", "target": "y"},
           **(extra or {})}
    (root / "mlci.yaml").write_text(json.dumps(cfg))
    return root / "mlci.yaml"


def checks_of(r) -> dict:
    return {c["name"]: c for c in json.loads(r.stdout)["checks"]}


class FakeServer(BaseHTTPRequestHandler):
    """/v2/ like a Docker registry; /api/json like Jenkins with basic auth."""

    def do_GET(self):  # noqa: N802
        if self.path == "/v2/":
            self._send(200, b"{}", {"Docker-Distribution-Api-Version": "registry/2.0"})
        elif self.path.startswith("/api/json"):
            good = "Basic " + base64.b64encode(f"ci-bot:{TOKEN}".encode()).decode()
            if self.headers.get("Authorization") != good:
                self._send(401, b"unauthorized", {})
            else:
                self._send(200, b'{"mode": "NORMAL"}', {"X-Jenkins": "2.462.3"})
        else:
            self._send(404, b"not found", {})

    def _send(self, code, body, headers):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_project_is_ready_and_reports_versions_disk_and_store(tmp_path, mlci):
    cfg = make_config(tmp_path / "p")
    r = mlci("doctor", "-c", cfg, "--json")
    assert r.returncode == 0, r.stderr
    checks = checks_of(r)
    assert checks["versions"]["data"]["python"].startswith("3.")
    assert "scikit-learn" in checks["versions"]["data"]
    assert checks["store"]["status"] == "ok" and checks["store"]["required"] is True
    assert "put/get/delete ok" in checks["store"]["detail"]
    assert checks["disk (workspace)"]["data"]["free_gb"] > 0
    assert not list((tmp_path / "p" / ".mlci" / "store").rglob("probe-*"))  # the probe is deleted

    table = mlci("doctor", "-c", cfg)
    assert table.returncode == 0
    assert "mlci doctor" in table.stderr and "doctor: ready" in table.stderr


def test_unwritable_store_exits_3(tmp_path, mlci):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "a-file").write_text("not a directory")
    cfg = make_config(tmp_path / "p", {"store": {"uri": "a-file/store"}})
    r = mlci("doctor", "-c", cfg, "--json")
    assert r.returncode == 3
    store = checks_of(r)["store"]
    assert store["status"] == "fail" and "a-file/store" in store["detail"]
    r = mlci("doctor", "-c", cfg)
    assert "doctor: required check failed: store" in r.stderr


def test_low_disk_is_a_warning_not_a_failure(tmp_path, mlci):
    cfg = make_config(tmp_path / "p")
    r = mlci("doctor", "-c", cfg, "--min-free-gb", "1000000", "--json")
    assert r.returncode == 0
    disk = checks_of(r)["disk (workspace)"]
    assert disk["status"] == "warn" and "below 1e+06 GiB" in disk["detail"]


def test_invalid_config_exits_2(tmp_path, mlci):
    (tmp_path / "mlci.yaml").write_text("name: x\ntask: clustering\n")
    r = mlci("doctor", "-c", tmp_path / "mlci.yaml", "--json")
    assert r.returncode == 2
    assert "task" in checks_of(r)["config"]["detail"]


def test_docker_daemon_is_checked_for_real(tmp_path, mlci):
    import docker

    try:
        docker.from_env(timeout=5).ping()
    except Exception as exc:  # noqa: BLE001 - tests/setup.d starts the daemon
        missing_part("Docker daemon", f"tests/setup.d/10-docker.sh starts one: {exc}")
    r = mlci("doctor", "--docker", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert checks_of(r)["docker"]["status"] == "ok" and "engine" in checks_of(r)["docker"]["detail"]
    r = mlci("doctor", "--docker", "--json", cwd=tmp_path,
             env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert r.returncode == 3
    assert "daemon not reachable" in checks_of(r)["docker"]["detail"]


def test_registry_from_image_repository_is_required(tmp_path, mlci, fake_server):
    cfg = make_config(tmp_path / "p", {"image": {"repository": f"{fake_server}/ml/doc"}})
    r = mlci("doctor", "-c", cfg, "--json")
    checks = checks_of(r)
    assert checks["registry"]["status"] == "ok" and checks["registry"]["required"] is True
    assert f"http://{fake_server}/v2/: registry API v2 answers" in checks["registry"]["detail"]

    dead = make_config(tmp_path / "q", {"image": {"repository": f"127.0.0.1:{free_port()}/ml/doc"}})
    r = mlci("doctor", "-c", dead, "--json")
    assert r.returncode == 3
    assert "unreachable" in checks_of(r)["registry"]["detail"]


def test_jenkins_credentials_are_checked_and_the_token_never_shown(tmp_path, mlci, fake_server):
    env = {"JENKINS_URL": f"http://{fake_server}/", "JENKINS_USER": "ci-bot", "JENKINS_TOKEN": TOKEN}
    r = mlci("doctor", "--jenkins", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    jenkins = checks_of(r)["jenkins"]
    assert jenkins["status"] == "ok" and "Jenkins 2.462.3, authenticated as ci-bot" in jenkins["detail"]

    bad = {**env, "JENKINS_TOKEN": "wrong-" + TOKEN}
    for args in (["--json"], []):
        r = mlci("doctor", "--jenkins", *args, cwd=tmp_path, env=bad)
        assert r.returncode == 3
        assert TOKEN not in r.stdout + r.stderr
    assert "HTTP 401 as ci-bot: credentials rejected" in checks_of(
        mlci("doctor", "--jenkins", "--json", cwd=tmp_path, env=bad))["jenkins"]["detail"]

    r = mlci("doctor", "--jenkins", "--json", cwd=tmp_path, env={"JENKINS_URL": ""})
    assert r.returncode == 3 and checks_of(r)["jenkins"]["detail"] == "JENKINS_URL is not set"


def test_gpu_health_from_nvidia_smi(tmp_path, mlci):
    from test_devices import FOUR_A100_ONE_BUSY, fake_smi

    bin_dir = fake_smi(tmp_path, FOUR_A100_ONE_BUSY)
    r = mlci("doctor", "--gpu", "--json", cwd=tmp_path, env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert r.returncode == 0, r.stderr
    gpu = checks_of(r)["gpu"]
    assert gpu["status"] == "ok" and len(gpu["data"]["gpus"]) == 4
    assert "GPU 0 NVIDIA A100-SXM4-80GB (78012/81920 MiB, utilization 97%)" in gpu["detail"]

    r = mlci("doctor", "--gpu", "--json", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 3 and checks_of(r)["gpu"]["detail"] == "nvidia-smi not installed"
    r = mlci("doctor", "--json", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and checks_of(r)["gpu"]["status"] == "skip"


def test_s3_store_probe_against_a_real_endpoint(tmp_path, mlci):
    from s3_fixtures import FAKE_ENV, make_bucket, start_moto

    endpoint = start_moto()
    bucket = make_bucket(endpoint)
    env = {**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint}
    r = mlci("doctor", "--s3", f"s3://{bucket}/doctor", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    store = checks_of(r)["store"]
    assert store["status"] == "ok" and store["detail"].endswith("; requests: mlci's own, botocore not loaded")
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    r = mlci("doctor", "--s3", f"s3://{bucket}/doctor", "--json", cwd=tmp_path, env={**env, "AWS_CONFIG_FILE": str(config)})
    assert checks_of(r)["store"]["detail"].endswith("; requests: mlci's own, with botocore's credentials")
    r = mlci("doctor", "--s3", f"s3://{bucket}/doctor", "--json", cwd=tmp_path, env={**env, "MLCI_S3_DIRECT": "0"})
    assert checks_of(r)["store"]["detail"].endswith("; requests: botocore's")
    r = mlci("doctor", "--s3", "s3://no-such-bucket/x", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 3 and checks_of(r)["store"]["status"] == "fail"


def test_the_store_probe_says_why_requests_fell_back_to_botocore(bucket, fault_proxy):
    from mlci.doctor import _small_file_path
    from mlci.store import open_store

    store = open_store(f"s3://{bucket}/doctor")
    fault_proxy.fail(1, status=503, code="SlowDown", methods={"PUT"})  # the direct PUT's answer
    said = _small_file_path(store, "_doctor/probe-x", b"probe")
    assert said.startswith("; requests: botocore's (mlci's own were refused: PUT: HTTP 503")
    assert "SlowDown" in said and store.list("_doctor/") == []
