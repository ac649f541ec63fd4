"""A small HTTP/1.1 server for the model: asyncio, keep-alive, pre-forked workers.

Why not http.server or a framework: http.server parses headers with the email package and
starts a thread per connection, which costs more than predicting a single row; frameworks
(uvicorn, gunicorn, ...) would add dependencies to every model image for a server with five
fixed endpoints. This is the subset of HTTP/1.1 the endpoints need: Content-Length bodies
(chunked uploads get 411), keep-alive and pipelining, a body limit checked before the body is
read, and a clean drain on SIGTERM.

Workers: the parent loads the model once, binds and listens on the port (without
SO_REUSEPORT), then forks ``workers`` processes that accept from that one inherited socket.
SO_REUSEPORT would let a second `mlci serve` (another model!) bind the same port and silently
take half the traffic; an exclusive bind makes it fail with "cannot listen on" (exit 3).
Prediction runs on the event loop: a request is CPU work of well under a millisecond for a row,
and one process per core gives the parallelism. SIGTERM/SIGINT to the parent: it stops every
worker; each closes its socket, finishes the requests it has, answers them with
``Connection: close`` and exits. A worker whose parent dies (SIGKILL, OOM) gets SIGTERM from
the kernel (PR_SET_PDEATHSIG) and also notices its new parent pid, and drains the same way.

Framing follows RFC 9112: one Content-Length of ASCII digits only (two of them, even equal, a
sign, an underscore or spaces inside are refused with 400: a proxy in front might read them
differently), and the header block is limited to 64 KiB however it arrives.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
import time
from http import HTTPStatus
from typing import Callable

from mlci.serve.app import App

log = logging.getLogger(__name__)

MAX_HEADER = 64 * 1024
GRACE_SECONDS = 10.0
IDLE_SECONDS = float(os.environ.get("MLCI_SERVE_IDLE_SECONDS", "75"))  # a connection that sends nothing for this long is closed (idle keep-alive, slow clients)
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_LENGTH = re.compile(r"[0-9]{1,18}")


class _Connection(asyncio.Protocol):
    def __init__(self, server: "_Worker"):
        self.server = server
        self.app = server.app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.last_data = time.monotonic()

    # asyncio callbacks ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        self.buffer += data
        while self.transport is not None and not self.closing:
            if not self._next_request():
                break

    # request handling --------------------------------------------------------------------------
    def idle(self) -> bool:
        return not self.buffer

    def _next_request(self) -> bool:
        """Handle one complete request from the buffer; False when more bytes are needed."""
        buf = self.buffer
        end = buf.find(b"\r\n\r\n", 0, MAX_HEADER + 4)
        if end < 0:
            if len(buf) > MAX_HEADER:  # no end of headers within the limit, however it arrived
                self._reply(431, b'{"error_code": "BAD_REQUEST", "message": "request headers too large"}',
                            "application/json", close=True)
            return False
        head = buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._reply(400, b'{"error_code": "BAD_REQUEST", "message": "malformed HTTP request line"}',
                        "application/json", close=True)
            return False
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                self._reply(400, b'{"error_code": "BAD_REQUEST", "message": "malformed HTTP header"}',
                            "application/json", close=True)
                return False
            name = name.strip().lower()
            if name == "content-length" and name in headers:  # RFC 9112 6.3: never guess which
                self._reply(400, b'{"error_code": "BAD_REQUEST", "message": "more than one Content-Length"}',
                            "application/json", close=True)
                return False
            headers[name] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._reply(411, b'{"error_code": "LENGTH_REQUIRED", "message": '
                             b'"chunked bodies are not accepted; send Content-Length"}',
                        "application/json", close=True)
            return False
        raw_length = headers.get("content-length", "0")
        if not _LENGTH.fullmatch(raw_length):  # digits only: no sign, '_', spaces or lists
            self._reply(400, b'{"error_code": "BAD_REQUEST", "message": "invalid Content-Length"}',
                        "application/json", close=True)
            return False
        length = int(raw_length)
        if length > self.app.max_body:
            status, ctype, body = self.app.too_large(length)
            self._reply(status, body, ctype, close=True)
            return False
        total = end + 4 + length
        if len(buf) < total:
            return False
        with memoryview(buf) as view:
            body = view[end + 4:total].tobytes()  # one copy (a bytearray slice would be a second)
        del buf[:total]
        conn = headers.get("connection", "").lower()
        keep_alive = (conn != "close") if version == "HTTP/1.1" else (conn == "keep-alive")
        request_id = self.app.request_id(headers.get("x-request-id"))
        status, ctype, out = self.app.handle(method, target, headers.get("content-type"), body, request_id)
        close = not keep_alive or self.server.draining
        self._reply(status, b"" if method == "HEAD" else out, ctype, close=close, length=len(out),
                    request_id=request_id)
        return not close

    def _reply(self, status: int, body: bytes, ctype: str, close: bool = False, length: int | None = None,
               request_id: str | None = None) -> None:
        if self.transport is None:
            return
        rid = f"X-Request-ID: {request_id}\r\n" if request_id else ""
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body) if length is None else length}\r\n{rid}"
                f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n")
        self.transport.write(head.encode("latin-1") + body)
        if close:
            self.closing = True
            self.buffer.clear()
            self.transport.close()


class _Worker:
    def __init__(self, app: App, sock: socket.socket, parent: int | None = None):
        self.app = app
        self.sock = sock
        self.parent = parent  # a forked worker: the pid it must outlive no longer than
        self.connections: set[_Connection] = set()
        self.draining = False

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Connection(self), sock=self.sock, backlog=1024)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        reaper = asyncio.ensure_future(self._close_idle(stop))
        orphan = asyncio.ensure_future(self._watch_parent(stop)) if self.parent else None
        await stop.wait()
        reaper.cancel()
        if orphan is not None:
            orphan.cancel()
        # drain: stop accepting, close idle keep-alive connections, let busy ones finish
        self.draining = True
        server.close()
        deadline = time.monotonic() + GRACE_SECONDS
        while self.connections and time.monotonic() < deadline:
            for conn in list(self.connections):
                if conn.idle() and conn.transport is not None:
                    conn.transport.close()
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()


    async def _watch_parent(self, stop: asyncio.Event) -> None:
        # Backstop for PR_SET_PDEATHSIG (Linux only, and racy if the parent died before it was
        # set): a worker adopted by another process has lost its parent.
        while not stop.is_set():
            if os.getppid() != self.parent:
                log.warning("worker %d: the server process is gone; stopping", os.getpid())
                stop.set()
                return
            await asyncio.sleep(0.5)

    async def _close_idle(self, stop: asyncio.Event) -> None:
        # one sweep every few seconds instead of a timer per request (cheaper on the hot path)
        while not stop.is_set():
            await asyncio.sleep(min(5.0, IDLE_SECONDS / 2))
            cutoff = time.monotonic() - IDLE_SECONDS
            for conn in list(self.connections):
                if conn.last_data < cutoff and conn.transport is not None:
                    conn.transport.close()


def bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def _run_worker(app: App, sock: socket.socket, parent: int | None = None) -> None:
    sock.listen(1024)
    try:
        asyncio.run(_Worker(app, sock, parent).serve())
    finally:
        app.close()  # flush the prediction log


def _die_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no libc prctl: the worker's parent watch still works
        pass


def serve(app: App, host: str, port: int, workers: int,
          on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT. ``on_ready(port)`` is called once the port is bound."""
    workers = max(1, workers)
    try:
        sock = bind(host, port, reuse_port=False)  # exclusive: a second server on the port fails
        sock.listen(1024)  # listening before we say "ready": no refused first connection
    except OSError as exc:
        from mlci.errors import InfraError

        raise InfraError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    port = sock.getsockname()[1]
    if workers == 1:
        if on_ready:
            on_ready(port)
        _run_worker(app, sock)
        return
    _prefork(app, sock, workers, on_ready)


def _prefork(app: App, sock: socket.socket, workers: int, on_ready: Callable[[int], None] | None) -> None:
    # The workers accept from the parent's listening socket, inherited through fork.
    children: dict[int, int] = {}
    stopping = False
    parent = os.getpid()

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with_parent()
                if os.getppid() != parent:  # it died before prctl took effect
                    os._exit(0)
                app.bind(index)
                _run_worker(app, sock, parent)
            except BaseException:  # noqa: BLE001 - a worker must never return into the parent's code
                log.exception("worker %d failed", index)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(workers):
        spawn(i)
    if on_ready:
        on_ready(sock.getsockname()[1])
    deadline = None
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if stopping and deadline is None:
                deadline = time.monotonic() + GRACE_SECONDS + 2
            if deadline is not None and time.monotonic() > deadline:
                for p in list(children):
                    os.kill(p, signal.SIGKILL)
            time.sleep(0.05)
            continue
        index = children.pop(pid, None)
        if index is not None and not stopping:
            log.warning("worker %d (pid %d) exited with status %d; starting a new one", index, pid, status)
            time.sleep(0.5)
            spawn(index)
    sock.close()
