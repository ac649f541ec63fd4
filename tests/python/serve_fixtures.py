"""Models and a running `mlci serve` for the serving and image tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import cli_env


def train_model(directory: Path, *, task: str = "classification", n_estimators: int = 20,
                categorical: bool = False, seed: int = 0, name: str = "bc") -> dict[str, Any]:
    """A model directory the way `mlci train` writes it (same pipeline, same signature format).
    Returns {"dir", "X" (test DataFrame), "pipeline"}."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from mlci import columns
    from mlci import model as model_io
    from mlci.model import signature as model_signature
    from mlci.trainers.sklearn import build_pipeline

    if task == "classification":
        frame = load_breast_cancer(as_frame=True).frame
        frame.columns = [c.replace(" ", "_") for c in frame.columns]
        target = "target"
        est = RandomForestClassifier(n_estimators=n_estimators, max_depth=6, random_state=seed)
    else:
        frame = load_diabetes(as_frame=True, scaled=False).frame
        target = "target"
        est = RandomForestRegressor(n_estimators=n_estimators, max_depth=6, random_state=seed)
    if categorical:
        rng = np.random.default_rng(seed)
        frame["site"] = rng.choice(["north", "south", "east"], size=len(frame))
    X = frame.drop(columns=[target])
    y = frame[target]
    roles = columns.decide(X).roles
    pipeline = build_pipeline(est, roles)
    pipeline.fit(X.iloc[:400], y.iloc[:400])
    signature = model_signature.build(X, roles, target, task,
                                      pipeline.classes_ if task == "classification" else None)
    model_io.save(pipeline, directory, signature, extra={"name": name, "run_id": "test"})
    return {"dir": directory, "X": X.iloc[400:].reset_index(drop=True), "pipeline": pipeline}


class Server:
    """`mlci serve` in a subprocess on a free port."""

    def __init__(self, model: str | Path, *args: str, cwd: Path | None = None, env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlci", "serve", "--model", str(model), "--port", "0", *args],
            cwd=cwd, env=cli_env(env), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = None
        self.banner = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.banner += line
            m = re.search(r"on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError(f"mlci serve did not start: {self.banner}{self.proc.stderr.read()}")
        self._wait_listening(deadline)

    def _wait_listening(self, deadline: float) -> None:
        # The banner can come just before listen(): wait until /ping answers.
        while True:
            try:
                self.request("GET", "/ping")
                return
            except ConnectionRefusedError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    raise RuntimeError(f"mlci serve did not listen: {self.banner}{self.proc.stderr.read()}")
                time.sleep(0.05)

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                content_type: str | None = "application/json") -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {}
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None and content_type:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def post(self, body: Any, content_type: str | None = "application/json", path: str = "/invocations"):
        status, _, data = self.request("POST", path, body, content_type)
        return status, json.loads(data) if data else None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.stderr = self.banner + self.proc.stderr.read()  # what the server logged
            self.proc.stderr.close()
            self.proc.stdout.close()
