"""Requests dropped while `mlci deploy` replaces a model on a Docker host, with the real image.

    .venv/bin/python bench/deploy/run.py            (about 5-10 minutes, most of it image builds)

Needs what tests/setup.d starts: dockerd, the offline base image (MLCI_TEST_BASE_IMAGE, default
mlci-test/python:3.11-slim) and a registry on 127.0.0.1:5000 (MLCI_TEST_REGISTRY).

Two versions of a breast-cancer forest (trained, evaluated, published, `mlci image build/verify
/push`, 1 server worker each) go to one environment on loopback. v1 is deployed; then, while a
client sends a prediction every 10 ms on one keep-alive connection and another every 10 ms on a
new connection each: v2 is deployed, rolled back, deployed again as a canary (50 % for 10 s),
and a candidate that cannot start (MLCI_SERVE_PORT=x) is refused. Printed: a markdown table of
what the client saw during each step (a prediction answered 200, refused, or failed otherwise)
and how long the step took. Which version answered is checked by tests/python/test_deploy.py.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

BASE = os.environ.get("MLCI_TEST_BASE_IMAGE", "mlci-test/python:3.11-slim")
REGISTRY = os.environ.get("MLCI_TEST_REGISTRY", "127.0.0.1:5000")


def mlci(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "mlci", *args], cwd=root, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"mlci {' '.join(args)} exited {r.returncode}:\n{r.stderr[-2000:]}")
    return r


class Client:
    def __init__(self, port: int, body: str):
        self.port, self.body, self.stop = port, body, threading.Event()
        self.log: list[tuple[float, str, str, float]] = []   # (time, kind, outcome, seconds)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in ("keep-alive", "new")]

    def _run(self, kind: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            if kind == "new":
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            sent = time.monotonic()
            try:
                conn.request("POST", "/invocations", body=self.body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                outcome = "200" if resp.status == 200 else f"http {resp.status}"
            except ConnectionRefusedError:
                outcome = "refused"
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"failed {type(exc).__name__}"
                conn.close()
            with self.lock:
                self.log.append((sent, kind, outcome, time.monotonic() - sent))
            if kind == "new":
                conn.close()
            time.sleep(0.01)
        conn.close()

    def between(self, start: float, end: float) -> list[tuple[float, str, str, float]]:
        with self.lock:
            return [e for e in self.log if start <= e[0] < end]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mlci-bench-deploy-"))
    root = work / "project"
    (root / "data").mkdir(parents=True)
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.to_csv(root / "data" / "train.csv", index=False)
    X = frame.drop(columns=["target"])
    body = json.dumps({"dataframe_split": {"columns": list(X.columns), "data": X.iloc[:1].values.tolist()}})
    name = f"bcdeploy{uuid.uuid4().hex[:6]}"
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "name": name, "task": "classification", "data": {"train": "data/train.csv", "target": "target"},
        "model": {"estimator": "sklearn.ensemble.RandomForestClassifier",
                  "params": {"n_estimators": 100, "max_depth": 8, "random_state": 42}},
        "evaluate": {"baseline": None, "gates": [{"metric": "accuracy", "threshold": 0.5}]},
        "store": {"uri": ".mlci/store"},
        "image": {"repository": f"{REGISTRY}/mlci-bench/{name}", "base": BASE, "workers": 1,
                  "verify": {"examples": "examples.json",
                             "load": {"seconds": 1, "concurrency": 1, "min_rps": 1, "max_p99_ms": 60000}}},
        "deploy": {"staging": {"target": "docker", "port": port, "bind": "127.0.0.1", "health_timeout": 180,
                               "canary": {"weight": 50, "duration": 10, "interval": 2, "min_requests": 10,
                                          "max_error_rate": 0.01}}},
    }
    (root / "mlci.yaml").write_text(yaml.safe_dump(config))
    for seed in (42, 43):
        config["model"]["params"]["random_state"] = seed
        (root / "mlci.yaml").write_text(yaml.safe_dump(config))
        for stage in ("train", "evaluate", "publish"):
            mlci(root, stage, "-q")
        if seed == 42:   # the smoke example: the first row, as v1 predicts it (a clear case: v2 agrees)
            from mlci import model as model_io

            run_dir = root / ".mlci" / "runs" / (root / ".mlci" / "runs" / "LATEST").read_text().strip()
            expected = model_io.load(run_dir / "model").predict(X.iloc[:1]).tolist()
            (root / "examples.json").write_text(json.dumps([{"name": "one row", "request": json.loads(body),
                                                             "expected": expected}]))
    for v in (1, 2):
        print(f"building the image of v{v}", file=sys.stderr)
        for action in ("build", "verify", "push"):
            mlci(root, "image", action, "--model", f"{name}@{v}", "-q")
    bad = dict(config, deploy={"staging": dict(config["deploy"]["staging"], env={"MLCI_SERVE_PORT": "x"},
                                                health_timeout=60)})
    (root / "bad.yaml").write_text(yaml.safe_dump(bad))

    mlci(root, "deploy", "--env", "staging", "--model", f"{name}@1", "-q")
    steps = [("deploy v2", ["deploy", "--env", "staging", "--model", f"{name}@2", "--no-canary"], 0),
             ("rollback to v1", ["deploy", "rollback", "--env", "staging"], 0),
             ("canary v2 (50 % for 10 s), promoted", ["deploy", "--env", "staging", "--model", f"{name}@2"], 0),
             ("candidate that cannot start, refused", ["deploy", "-c", "bad.yaml", "--env", "staging",
                                                       "--model", f"{name}@1", "--no-canary"], 1)]
    client = Client(port, body)
    for t in client.threads:
        t.start()
    rows = []
    try:
        time.sleep(1)
        for title, args, code in steps:
            start = time.monotonic()
            r = mlci(root, *args, check=False)
            end = time.monotonic()
            if r.returncode != code:
                sys.exit(f"{title}: exit {r.returncode}, expected {code}:\n{r.stderr[-2000:]}")
            time.sleep(1)
            seen = client.between(start, end)
            rows.append((title, end - start, seen))
    finally:
        client.stop.set()
        for t in client.threads:
            t.join()
        import docker

        d = docker.from_env()
        for c in d.containers.list(all=True, filters={"label": f"org.mlci.model={name}"}):
            c.remove(force=True)
        for n in d.networks.list(filters={"label": f"org.mlci.model={name}"}):
            n.remove()
        for image in d.images.list(name=config["image"]["repository"]):
            d.images.remove(image.id, force=True)

    print("| step | took | requests (keep-alive / new connection) | refused | failed | slowest answer |")
    print("|---|---|---|---|---|---|")
    for title, took, seen in rows:
        ka = sum(1 for e in seen if e[1] == "keep-alive")
        refused = sum(1 for e in seen if e[2] == "refused")
        failed = sum(1 for e in seen if e[2] not in ("refused", "200"))
        slowest = max((e[3] for e in seen), default=0) * 1000
        print(f"| {title} | {took:.1f} s | {len(seen)} ({ka} / {len(seen) - ka}) | {refused} | {failed} | "
              f"{slowest:.0f} ms |")


if __name__ == "__main__":
    main()
