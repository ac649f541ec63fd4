"""`mlci serve` against hostile requests and careless operators: deep JSON, request smuggling
shapes of Content-Length, oversized headers in one piece, a second server on the same port,
and workers whose parent was SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_fixtures import Server, train_model

from conftest import cli_env


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_model(tmp_path_factory.mktemp("serve-hard") / "model")


@pytest.fixture(scope="module")
def server(model):
    srv = Server(model["dir"], "--workers", "2")
    yield srv
    srv.stop()


def raw(server: Server, data: bytes) -> str:
    """Send raw bytes, return the first reply's status line and body (the connection is closed after it)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return head.split(b"\r\n")[0].decode() + " " + body.decode(errors="replace")


def test_deeply_nested_json_is_a_400_not_a_500(server):
    body = "[" * 100_000 + "]" * 100_000
    status, out = server.post(body)
    assert status == 400 and "nested too deeply" in out["message"]
    status, out = server.post('{"inputs": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert status == 400
    assert server.request("GET", "/ping")[0] == 200  # the worker is fine


@pytest.mark.parametrize("headers", [
    b"Content-Length: 2\r\nContent-Length: 2\r\n",      # two, equal
    b"Content-Length: 2\r\nContent-Length: 5\r\n",      # two, conflicting
    b"Content-Length: +2\r\n",
    b"Content-Length: 0_2\r\n",
    b"Content-Length: 2, 2\r\n",
    b"Content-Length: 0x2\r\n",
    b"Content-Length: 2 2\r\n",
    b"Content-Length: \xb2\r\n",                         # a superscript two: not an ASCII digit
], ids=["two-equal", "two-conflicting", "plus", "underscore", "list", "hex", "space", "superscript"])
def test_ambiguous_content_length_is_refused(server, headers):
    reply = raw(server, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + headers + b"\r\n{}xxx")
    assert reply.startswith("HTTP/1.1 400 "), reply
    assert "Content-Length" in reply


def test_a_valid_content_length_still_works(server, model):
    body = json.dumps({"inputs": model["X"].iloc[:2].values.tolist()}).encode()
    reply = raw(server, b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length:  " + str(len(body)).encode() + b" \r\nConnection: close\r\n\r\n" + body)
    assert reply.startswith("HTTP/1.1 200 "), reply


def test_a_70kb_header_in_one_piece_is_refused(server):
    reply = raw(server, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert reply.startswith("HTTP/1.1 431 "), reply[:200]
    reply = raw(server, b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 60_000 + b"\r\nConnection: close\r\n\r\n")
    assert reply.startswith("HTTP/1.1 200 "), reply[:200]


def test_a_second_server_on_the_same_port_exits_3(server, model, tmp_path):
    for workers in ("1", "2"):
        r = subprocess.run([sys.executable, "-m", "mlci", "serve", "--model", str(model["dir"]),
                            "--port", str(server.port), "--workers", workers],
                           env=cli_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 3, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("mlci serve: error: cannot listen on") and str(server.port) in last
        assert "Traceback" not in r.stderr
    assert server.request("GET", "/ping")[0] == 200


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_workers_exit_when_the_server_process_is_killed(model):
    srv = Server(model["dir"], "--workers", "3")
    try:
        workers = children(srv.proc.pid)
        assert len(workers) == 3
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
        deadline = time.monotonic() + 15
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "workers kept serving after their parent died"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
    finally:
        for w in children(srv.proc.pid) if srv.proc.poll() is None else []:
            os.kill(w, signal.SIGKILL)
        srv.stop(signal.SIGKILL)
