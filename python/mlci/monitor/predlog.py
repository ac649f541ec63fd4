"""Prediction logging for the model server, off the request path.

The server calls ``PredictionLog.log(...)`` once per answered /invocations request. That call
only decides whether the request is sampled and appends a tuple of references (the request body
as received, the predictions; no copying, no serialization, no I/O) to an in-memory buffer; when the buffer holds ``queue_size`` records
the record is dropped and counted. A writer thread per worker process wakes every
``flush_seconds``, serializes what is buffered to JSON lines and appends them to the worker's
current file in one write. A slow or unwritable disk therefore never delays or fails a
request: it only costs dropped records, visible in /metrics as
``mlci_prediction_log_dropped_total``.

Files: ``<dir>/predictions-<UTC time>-<host>-w<worker>-<pid>.jsonl``. The first line of each file is
a header ``{"type": "header", "columns": [...], "dtypes": [...], "model", "version", "classes", ...}``
(the model's input schema, once per file); every other line is one request::

  {"type": "prediction", "ts": 1732300000.123, "request_id": "...", "model": "bc", "version": "3",
   "latency_ms": 0.41, "content_type": "application/json", "body": {...the request body...},
   "response": {"predictions": [...], "classes": [...], "probabilities": [[...]] (when asked)}}

The body is logged as the client sent it (a CSV body as the string "body_text") and the
response as the server sent it: formatting the floats again would cost more than the
prediction itself. Readers (mlci.monitor.logs) turn the body back into rows with the server's
own wire parser and the header's schema; a record may instead carry
``"inputs": [[...row...], ...]`` (column order), ``"outputs"`` and ``"proba"``.

A file is closed and a new one started when it reaches ``max_bytes`` or is ``rotate_seconds``
old; each worker keeps its newest ``keep_files`` files (of its host and worker index) and
deletes older ones (bounded retention: at most workers x keep_files x max_bytes per server).

Worker processes are forked after the log is created: the buffer and thread are reset in
each child (os.register_at_fork) and the thread starts on the first record; ``bind(index)``
gives the child its row of the shared counters, ``close()`` flushes what is left on shutdown.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import mmap
import os
import random
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PREFIX = "predictions-"
SUFFIX = ".jsonl"
# each cell has one writer (the request path: dropped, sampled_out; the writer thread: the
# rest), so no update is lost between the two threads of a worker
COUNTERS = ("logged", "dropped", "sampled_out", "write_errors", "files", "dropped_writing")
MAX_REQUEST_ID = 128
# replicas sharing one log volume (containers often all have pid 1) keep apart by host name
_HOST = re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname())[:64] or "host"


class PredictionLog:
    def __init__(self, directory: str | os.PathLike[str], *, sample_rate: float = 1.0,
                 max_bytes: int = 64 * 1024 * 1024, rotate_seconds: float = 3600.0, keep_files: int = 48,
                 queue_size: int = 10_000, flush_seconds: float = 0.5, workers: int = 1,
                 model: str = "", version: str = "", columns: list[str] | None = None,
                 dtypes: list[str] | None = None, classes: list[Any] | None = None,
                 max_buffer_bytes: int = 64 * 1024 * 1024):
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample rate {sample_rate}: expected 0..1")
        self.directory = Path(directory)
        self.sample_rate = float(sample_rate)
        self.max_bytes = int(max_bytes)
        self.rotate_seconds = float(rotate_seconds)
        self.keep_files = max(1, int(keep_files))
        self.queue_size = max(1, int(queue_size))
        self.max_buffer_bytes = int(max_buffer_bytes)
        self.flush_seconds = float(flush_seconds)
        self.model, self.version = model, version
        self.columns = list(columns or [])
        self.dtypes = list(dtypes or [])
        self.classes = classes
        self.worker = 0
        # counters shared by the forked workers: one row each, summed by render()
        self.workers = max(1, workers)
        self._mem = mmap.mmap(-1, max(8 * len(COUNTERS) * self.workers, mmap.PAGESIZE))
        self._table = np.frombuffer(self._mem, dtype=np.float64,
                                    count=len(COUNTERS) * self.workers).reshape(self.workers, len(COUNTERS))
        self._row = self._table[0]
        self._id_prefix = ""
        self._id_next = 0
        self._reset()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the server still serves; every record will be counted as dropped
            log.warning("prediction log directory %s cannot be created (%s); records will be dropped",
                        self.directory, exc.strerror or exc)
        os.register_at_fork(after_in_child=self._reset)

    # --- the request path: cheap, never raises, never blocks ---------------------------------------
    def request_id(self, given: str | None) -> str:
        """The client's X-Request-ID when it is usable, else a new unique id."""
        if given and len(given) <= MAX_REQUEST_ID and given.isprintable():
            return given
        self._id_next += 1
        return f"{self._id_prefix}{self._id_next:x}"

    def log(self, request_id: str, body: bytes, content_type: str | None, response: bytes,
            seconds: float) -> None:
        """Buffer one answered request: its body as received and the JSON response as sent
        (nothing is serialized again, on the request path or in the writer)."""
        if self.sample_rate < 1.0 and (self.sample_rate <= 0.0 or self._random() >= self.sample_rate):
            self._row[2] += 1
            return
        if len(self._buffer) >= self.queue_size or self._appended - self._consumed > self.max_buffer_bytes:
            self._row[1] += 1
            return
        self._appended += len(body)
        self._buffer.append((time.time(), request_id, seconds, body, content_type, response))
        if self._thread is None:
            self._start()

    # --- per process ------------------------------------------------------------------------------
    def _reset(self) -> None:
        self._buffer: collections.deque = collections.deque()
        self._appended = 0  # body bytes buffered so far (request path) ...
        self._consumed = 0  # ... and written so far (writer thread): one writer each, no lock
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._file: Any = None
        self._file_path: Path | None = None
        self._file_bytes = 0
        self._file_opened = 0.0
        self._random = random.Random().random  # a fresh seed per process: workers sample independently
        self._id_prefix = f"{os.urandom(6).hex()}-"
        self._id_next = 0

    def bind(self, worker: int) -> None:
        """Called in each forked worker: its index (file names, counter row)."""
        self.worker = worker
        self._row = self._table[worker % self.workers]

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mlci-prediction-log", daemon=True)
        try:
            self._thread.start()
        except RuntimeError as exc:  # no thread (resource limits): close() still writes what is buffered
            log.warning("prediction log: cannot start the writer thread (%s)", exc)

    def close(self) -> None:
        """Flush buffered records and close the file (server shutdown)."""
        if self._thread is not None and self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=10)
        self._flush()
        self._close_file()

    # --- the writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._flush()

    def _flush(self) -> None:
        buf = self._buffer
        if not buf:
            if self._file is not None and time.time() - self._file_opened >= self.rotate_seconds:
                self._close_file()
            return
        lines: list[bytes] = []
        count = 0
        fixed = b'"model":' + json.dumps(self.model).encode() + b',"version":' + json.dumps(self.version).encode()
        try:
            while True:
                ts, rid, seconds, body, ctype, response = buf.popleft()
                self._consumed += len(body)
                try:
                    lines.append(_line(ts, rid, seconds, body, ctype, response, fixed))
                    count += 1
                except (TypeError, ValueError):
                    self._row[5] += 1
        except IndexError:  # drained
            pass
        if not lines:
            return
        try:
            self._write(lines)
            self._row[0] += count
        except OSError as exc:
            self._row[5] += count
            self._row[3] += 1
            if self._row[3] == 1 or self._row[3] % 1000 == 0:
                log.warning("prediction log %s: cannot write (%s); %d records dropped",
                            self.directory, exc.strerror or exc, count)
            self._close_file()
        except Exception:  # noqa: BLE001 - the writer thread must survive anything
            self._row[5] += count
            log.exception("prediction log: unexpected error; %d records dropped", count)

    def _write(self, lines: list[bytes]) -> None:
        """Append the lines, starting a new file whenever the next line would take the current one
        past max_bytes (a batch bigger than a file is split; each file holds at least one record)."""
        i = 0
        while i < len(lines):
            now = time.time()
            if self._file is not None and (self._file_bytes + len(lines[i]) > self.max_bytes
                                           or now - self._file_opened >= self.rotate_seconds):
                self._close_file()
            if self._file is None:
                self._open(now)
            room = self.max_bytes - self._file_bytes
            j, size = i + 1, len(lines[i])
            while j < len(lines) and size + len(lines[j]) <= room:
                size += len(lines[j])
                j += 1
            self._file.write(b"".join(lines[i:j]))
            self._file.flush()
            self._file_bytes += size
            i = j

    def _open(self, now: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{math.modf(now)[0]:.6f}"[1:].replace(".", "")
        path = self.directory / f"{PREFIX}{stamp}Z-{_HOST}-w{self.worker}-{os.getpid()}{SUFFIX}"
        fh = open(path, "ab")  # noqa: SIM115 - kept open across flushes
        header = {"type": "header", "format": "mlci-prediction-log/1", "model": self.model,
                  "version": self.version, "columns": self.columns, "dtypes": self.dtypes,
                  "classes": self.classes,
                  "worker": self.worker, "pid": os.getpid(), "created": round(now, 6)}
        head = (json.dumps(header, default=_default) + "\n").encode("utf-8")
        fh.write(head)
        self._file, self._file_path = fh, path
        self._file_bytes, self._file_opened = len(head), now
        self._row[4] += 1
        self._retain()

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None

    def _retain(self) -> None:
        """Delete this worker's oldest files beyond keep_files (names sort by time)."""
        try:
            mine = sorted(p for p in self.directory.glob(f"{PREFIX}*-{_HOST}-w{self.worker}-*{SUFFIX}"))
        except OSError:
            return
        for old in mine[:-self.keep_files]:
            try:
                old.unlink()
            except OSError:
                pass

    # --- metrics ------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        total = self._table.sum(axis=0)
        out = {name: int(total[i]) for i, name in enumerate(COUNTERS)}
        out["dropped"] += out.pop("dropped_writing")
        return out

    def render(self) -> bytes:
        c = self.counts()
        return (
            "# HELP mlci_prediction_log_records_total Predictions written to the prediction log.\n"
            "# TYPE mlci_prediction_log_records_total counter\n"
            f"mlci_prediction_log_records_total {c['logged']}\n"
            "# HELP mlci_prediction_log_dropped_total Sampled predictions not logged (buffer full or write error).\n"
            "# TYPE mlci_prediction_log_dropped_total counter\n"
            f"mlci_prediction_log_dropped_total {c['dropped']}\n"
            "# HELP mlci_prediction_log_sampled_out_total Predictions not logged by sampling.\n"
            "# TYPE mlci_prediction_log_sampled_out_total counter\n"
            f"mlci_prediction_log_sampled_out_total {c['sampled_out']}\n"
            "# HELP mlci_prediction_log_write_errors_total Failed writes to the prediction log.\n"
            "# TYPE mlci_prediction_log_write_errors_total counter\n"
            f"mlci_prediction_log_write_errors_total {c['write_errors']}\n"
            "# HELP mlci_prediction_log_sample_rate Share of predictions logged.\n"
            "# TYPE mlci_prediction_log_sample_rate gauge\n"
            f"mlci_prediction_log_sample_rate {self.sample_rate}\n"
        ).encode()


_JSON_TYPES = ("application/json", "text/json", "")
_MEDIA: dict[str | None, tuple[bytes, bool]] = {}  # Content-Type -> (its JSON text, body is JSON)


def _media(ctype: str | None) -> tuple[bytes, bool]:
    got = _MEDIA.get(ctype)
    if got is None:
        media = (ctype or "").split(";", 1)[0].strip().lower()
        got = (json.dumps(media or "application/json").encode(), media in _JSON_TYPES)
        if len(_MEDIA) < 64:
            _MEDIA[ctype] = got
    return got


def _json_str(text: str) -> bytes:
    if text.isascii() and '"' not in text and "\\" not in text:  # printable already (request_id())
        return b'"' + text.encode() + b'"'
    return json.dumps(text).encode()


def _line(ts: float, rid: str, seconds: float, body: bytes, ctype: str | None, response: bytes,
          fixed: bytes) -> bytes:
    """One JSON line. The JSON body and response are embedded as they are (both are valid JSON;
    a newline in valid JSON can only be whitespace, so it becomes a space); a CSV body becomes a
    string. Formatting 30 floats again would cost more than the whole prediction."""
    media, is_json = _media(ctype)
    if is_json:
        if b"\n" in body or b"\r" in body:
            body = body.replace(b"\r", b" ").replace(b"\n", b" ")
        payload = b'"body":' + body
    else:
        payload = b'"body_text":' + json.dumps(body.decode("utf-8", "replace")).encode()
    return (b'{"type":"prediction","ts":%.6f,"request_id":%s,%s,"latency_ms":%.3f,"content_type":%s,%s,"response":%s}\n'
            % (ts, _json_str(rid), fixed, seconds * 1000, media, payload, response))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


