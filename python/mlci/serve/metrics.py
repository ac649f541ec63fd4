"""Server metrics in Prometheus text format, shared by all worker processes.

The counters live in one anonymous shared memory map created before the workers fork; each
worker writes only its own row (no locks), and /metrics, answered by whichever worker the
kernel picks, sums the rows. Label sets are fixed up front (endpoints, status codes, classes),
which is what makes a flat array possible.
"""

from __future__ import annotations

import bisect
import mmap
import time
from collections import Counter
from typing import Any

import numpy as np

ENDPOINTS = ("invocations", "ping", "health", "version", "metrics", "other")
CODES = (200, 400, 404, 405, 411, 413, 415, 431, 500, 503)
ERRORS = ("bad_request", "unsupported_media_type", "body_too_large", "not_found", "method_not_allowed",
          "internal")
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, workers: int, classes: list[Any] | None):
        self.classes = [str(c) for c in classes] if classes else []
        self._class_index = {c: i for i, c in enumerate(classes or [])}
        n_req = len(ENDPOINTS) * len(CODES)
        self._layout = {
            "requests": (0, n_req),
            "errors": (n_req, len(ERRORS)),
            "buckets": (n_req + len(ERRORS), len(BUCKETS) + 1),  # last: +Inf
            "sum": (n_req + len(ERRORS) + len(BUCKETS) + 1, 1),
            "rows": (n_req + len(ERRORS) + len(BUCKETS) + 2, 1),
            "classes": (n_req + len(ERRORS) + len(BUCKETS) + 3, max(len(self.classes), 1)),
        }
        self.width = sum(size for _, size in self._layout.values())
        self.workers = workers
        self._mem = mmap.mmap(-1, max(8 * self.width * workers, mmap.PAGESIZE))
        self.table = np.frombuffer(self._mem, dtype=np.float64, count=self.width * workers).reshape(workers, self.width)
        self.started = time.time()
        self._cells = memoryview(self._mem).cast("d")  # element access without numpy scalars: cheaper
        self.bind(0)

    def bind(self, worker: int) -> None:
        """Called in each worker after fork: write to this worker's row."""
        self.row = self._cells[worker * self.width:(worker + 1) * self.width]

    def _slot(self, name: str) -> int:
        return self._layout[name][0]

    def request(self, endpoint: str, code: int, seconds: float | None = None) -> None:
        e = ENDPOINTS.index(endpoint) if endpoint in ENDPOINTS else len(ENDPOINTS) - 1
        c = CODES.index(code) if code in CODES else CODES.index(500)
        self.row[e * len(CODES) + c] += 1
        if seconds is not None:
            b = bisect.bisect_left(BUCKETS, seconds)
            self.row[self._slot("buckets") + b] += 1
            self.row[self._slot("sum")] += seconds

    def error(self, reason: str) -> None:
        self.row[self._slot("errors") + ERRORS.index(reason)] += 1

    def predictions(self, labels: list[Any]) -> None:
        self.row[self._slot("rows")] += len(labels)
        if self.classes:
            base = self._slot("classes")
            if len(labels) == 1:
                i = self._class_index.get(labels[0])
                if i is not None:
                    self.row[base + i] += 1
                return
            for label, count in Counter(labels).items():
                i = self._class_index.get(label)
                if i is not None:
                    self.row[base + i] += count

    def render(self, model: str, version: str, engine: str) -> bytes:
        total = self.table.sum(axis=0)
        out = [
            "# HELP mlci_model_info The model this server serves.",
            "# TYPE mlci_model_info gauge",
            f'mlci_model_info{{model="{_esc(model)}",version="{_esc(version)}",engine="{engine}"}} 1',
            "# HELP mlci_requests_total HTTP requests by endpoint and status code.",
            "# TYPE mlci_requests_total counter",
        ]
        for i, endpoint in enumerate(ENDPOINTS):
            for j, code in enumerate(CODES):
                v = total[i * len(CODES) + j]
                if v:
                    out.append(f'mlci_requests_total{{endpoint="{endpoint}",code="{code}"}} {v:.0f}')
        out += ["# HELP mlci_errors_total Failed requests by reason.", "# TYPE mlci_errors_total counter"]
        base = self._slot("errors")
        for i, reason in enumerate(ERRORS):
            out.append(f'mlci_errors_total{{reason="{reason}"}} {total[base + i]:.0f}')
        out += ["# HELP mlci_request_duration_seconds Time to answer /invocations.",
                "# TYPE mlci_request_duration_seconds histogram"]
        base = self._slot("buckets")
        cumulative = 0.0
        for i, bound in enumerate(BUCKETS):
            cumulative += total[base + i]
            out.append(f'mlci_request_duration_seconds_bucket{{le="{bound}"}} {cumulative:.0f}')
        cumulative += total[base + len(BUCKETS)]
        out.append(f'mlci_request_duration_seconds_bucket{{le="+Inf"}} {cumulative:.0f}')
        out.append(f"mlci_request_duration_seconds_sum {total[self._slot('sum')]:.6f}")
        out.append(f"mlci_request_duration_seconds_count {cumulative:.0f}")
        out += ["# HELP mlci_prediction_rows_total Rows predicted.", "# TYPE mlci_prediction_rows_total counter",
                f"mlci_prediction_rows_total {total[self._slot('rows')]:.0f}"]
        if self.classes:
            out += ["# HELP mlci_predictions_total Predictions by class.",
                    "# TYPE mlci_predictions_total counter"]
            base = self._slot("classes")
            for i, c in enumerate(self.classes):
                out.append(f'mlci_predictions_total{{class="{_esc(c)}"}} {total[base + i]:.0f}')
        out += ["# HELP mlci_start_time_seconds When the server started (Unix time).",
                "# TYPE mlci_start_time_seconds gauge", f"mlci_start_time_seconds {self.started:.3f}",
                "# HELP mlci_workers Worker processes.", "# TYPE mlci_workers gauge",
                f"mlci_workers {self.workers}"]
        return ("\n".join(out) + "\n").encode()


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
