"""`mlci image verify`: run the image like production and test it before anyone can pull it.

1. start the container with its port published on 127.0.0.1 only (a free port the daemon picks);
2. wait for /health (the container exiting early fails with its last log lines);
3. send each example in image.verify.examples and compare the answers (exact for classes and
   other non-numbers, image.verify.tolerance for numbers; an example may expect a status, e.g. 400);
   then send the verification rows (the run's test rows, up to PARITY_ROWS; the first
   PARITY_SINGLE one at a time, then all in one batch) and compare the image's answers with the
   model's own in this process: classes exactly, numbers and probabilities within 1e-9;
4. load-test /invocations with keep-alive connections for image.verify.load.seconds (bounded by
   load.max_requests), then apply the gates: min_rps, max_p99_ms, and zero errors.

The result (with the latency distribution, for the report) goes to image-verify.json; the
container is always removed.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, NotRequired, TypedDict

from mlci.errors import CheckFailed, ConfigError, InfraError, UsageError
from mlci.image import docker as dockerlib
from mlci.image.target import BUILD_FILE, VERIFY_FILE, Target
from mlci.results import Failure, failure

log = logging.getLogger(__name__)

PARITY_ROWS = 500
PARITY_SINGLE = 20
PARITY_TOLERANCE = 1e-9
HIST_BOUNDS_MS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000)


def load_examples(path: Path) -> list[dict[str, Any]]:
    """Examples file: a list (or {"examples": [...]}) of
    {"name"?, "request": <an /invocations JSON body>, "expected": [predictions] | {"predictions": [...]},
     "status"?: 200, "tolerance"?: number}."""
    where = str(path)
    if not path.is_file():
        raise ConfigError(f"image.verify.examples: {path} not found")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    if isinstance(doc, dict) and "examples" in doc:
        doc = doc["examples"]
    if not isinstance(doc, list) or not doc:
        raise ConfigError(f"{where}: expected a non-empty list of examples")
    out = []
    for i, ex in enumerate(doc):
        if not isinstance(ex, dict) or "request" not in ex:
            raise ConfigError(f"{where}: example [{i}]: expected an object with `request` and `expected`")
        status = int(ex.get("status", 200))
        if status == 200 and "expected" not in ex:
            raise ConfigError(f"{where}: example [{i}]: missing `expected` (the predictions)")
        unknown = set(ex) - {"name", "request", "expected", "status", "tolerance", "content_type"}
        if unknown:
            raise ConfigError(f"{where}: example [{i}]: unknown key {sorted(unknown)[0]!r}; expected name, "
                              "request, expected, status, tolerance, content_type")
        out.append({**ex, "name": ex.get("name") or f"example {i}", "status": status})
    return out


def compare(expected: Any, got: Any, tol: float, where: str = "predictions") -> str | None:
    """None when equal (numbers within ``tol``), else what differs."""
    if isinstance(expected, dict) and "predictions" in expected:
        for key, value in expected.items():
            if not isinstance(got, dict) or key not in got:
                return f"{key}: missing from the answer"
            diff = compare(value, got[key], tol, key)
            if diff:
                return diff
        return None
    if isinstance(got, dict) and "predictions" in got and isinstance(expected, list):
        got = got["predictions"]
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return f"{where}: expected {len(expected)} values, got {_short(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            diff = compare(e, g, tol, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return None if abs(expected - got) <= tol else f"{where}: expected {expected} (±{tol}), got {got}"
    if expected == got and (type(expected) is type(got) or {type(expected), type(got)} <= {int, float}):
        return None
    return f"{where}: expected {_short(expected)}, got {_short(got)}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."


class ExampleResult(TypedDict):
    name: str
    passed: bool
    status: int                 # the HTTP status the server answered
    problem: NotRequired[str]   # what was wrong with the answer


class Histogram(TypedDict):
    bounds_ms: list[float]      # upper bounds of the bins; one more count than bounds
    counts: list[int]


class LoadStats(TypedDict):
    """The load test of /invocations (``load`` in image-verify.json)."""

    requests: int
    errors: int
    first_error: str | None
    seconds: float
    concurrency: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    histogram: Histogram


class VerifyGate(TypedDict):
    gate: str                   # startup | examples | errors | min_rps | max_p99_ms
    passed: bool
    value: NotRequired[Any]
    threshold: NotRequired[float | int]
    detail: NotRequired[str | None]


class Parity(TypedDict):
    rows: int
    single_rows: int
    passed: bool
    problems: list[str]


class VerifyResult(TypedDict):
    """image-verify.json, the result of `mlci image verify` (also its --json output)."""

    image_id: str
    tag: str
    model: Any
    passed: bool
    gates: list[VerifyGate]
    failures: list[Failure]     # the gates that did not pass
    startup_seconds: NotRequired[float]
    examples: NotRequired[list[ExampleResult]]
    load: NotRequired[LoadStats]
    parity: NotRequired[Parity]          # the image's answers against the model's on the run's test rows
    logs_tail: NotRequired[list[str]]    # the container's last lines when it did not get through
    verified_at: NotRequired[str]
    error: NotRequired[str]              # why it did not start


def verify_failures(gates: list[VerifyGate]) -> list[Failure]:
    return [failure(g["gate"], g.get("detail") or f"value {g.get('value')}, threshold {g.get('threshold')}")
            for g in gates if not g["passed"]]


def _post(port: int, body: bytes, content_type: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check_answer(ex: dict[str, Any], status: int, data: bytes, tolerance: float) -> str | None:
    """What is wrong with the server's answer to example ``ex``, or None when it is right."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = data.decode(errors="replace")
    if status != ex["status"]:
        return f"status {status}, expected {ex['status']}: {_short(answer)}"
    if "expected" in ex:
        return compare(ex["expected"], answer, float(ex.get("tolerance", tolerance)))
    return None


def run_examples(port: int, examples: list[dict[str, Any]], tolerance: float) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    for ex in examples:
        ctype = ex.get("content_type", "application/json")
        req = ex["request"]
        body = req.encode() if isinstance(req, str) else json.dumps(req).encode()
        status, data = _post(port, body, ctype)
        problem = check_answer(ex, status, data, tolerance)
        results.append({"name": ex["name"], "passed": problem is None, "status": status,
                        **({"problem": problem} if problem else {})})
    return results


def load_test(port: int, body: bytes, content_type: str, seconds: float, concurrency: int,
              max_requests: int) -> LoadStats:
    """Keep-alive connections posting ``body`` until time or the request budget runs out."""
    import numpy as np

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    first_error: list[str] = []
    budget = [max_requests]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": content_type}

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = latencies[i]
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
                if not ok and not first_error:
                    first_error.append(f"HTTP {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                ok = False
                if not first_error:
                    first_error.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((time.perf_counter() - t0) * 1000)
            if not ok:
                errors[i] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.monotonic() - started
    lat = np.asarray([x for xs in latencies for x in xs], dtype=float)
    n = int(lat.size)
    counts, _ = np.histogram(lat, bins=[0.0, *HIST_BOUNDS_MS, np.inf]) if n else (np.zeros(len(HIST_BOUNDS_MS) + 1), None)
    pct = (lambda q: round(float(np.percentile(lat, q)), 3)) if n else (lambda q: None)
    return {
        "requests": n, "errors": int(sum(errors)), "first_error": first_error[0] if first_error else None,
        "seconds": round(elapsed, 3), "concurrency": concurrency,
        "rps": round(n / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99),
        "max_ms": round(float(lat.max()), 3) if n else None,
        "mean_ms": round(float(lat.mean()), 3) if n else None,
        "histogram": {"bounds_ms": list(HIST_BOUNDS_MS), "counts": [int(c) for c in counts]},
    }


def _default_request(model_dir: Path) -> bytes:
    from mlci.model import read_signature
    from mlci.serve.wire import BOOL, NUMERIC, Schema

    schema = Schema.from_signature(read_signature(model_dir))
    row = {n: (0.0 if k == NUMERIC else False if k == BOOL else "x") for n, k in zip(schema.names, schema.kinds)}
    return json.dumps({"dataframe_records": [row]}).encode()


def verify(cfg: Any, target: Target, on_step: Callable[[str], None] | None = None) -> VerifyResult:
    import docker

    step = on_step or (lambda _m: None)
    built = target.read(BUILD_FILE)
    if not built:
        raise UsageError(f"{target.records}: no {BUILD_FILE}; run `mlci image build` first")
    vcfg = cfg.image.verify
    examples = load_examples(cfg.resolve(vcfg.examples)) if vcfg.examples else []
    client = dockerlib.client()
    try:
        client.images.get(built["image_id"])
    except docker.errors.ImageNotFound:
        raise UsageError(f"image {built['tag']} ({built['image_id'][:19]}) is gone from the Docker daemon; "
                         "run `mlci image build` again") from None
    port_key = f"{built.get('port', cfg.image.port)}/tcp"
    name = f"mlci-verify-{uuid.uuid4().hex[:10]}"
    result: VerifyResult = {"image_id": built["image_id"], "tag": built["tag"],  # type: ignore[typeddict-item]
                            "model": built["model"]}
    try:
        _exercise(client, built, name, port_key, examples, target, result, step, cfg)
    except CheckFailed as exc:
        result.update(passed=False, error=str(exc), gates=[{"gate": "startup", "passed": False, "detail": str(exc)}])
        result["failures"] = exc.failures = verify_failures(result["gates"])
        target.write(VERIFY_FILE, result)
        raise
    result["gates"] = gates(result, vcfg.load)
    result["passed"] = all(g["passed"] for g in result["gates"])
    result["failures"] = verify_failures(result["gates"])
    result["verified_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    target.write(VERIFY_FILE, result)
    return result


def _exercise(client: Any, built: dict[str, Any], name: str, port_key: str, examples: list[dict[str, Any]],
              target: Target, result: VerifyResult, step: Callable[[str], None], cfg: Any) -> None:
    """Start the container, check it, load it; always remove it."""
    vcfg = cfg.image.verify
    import docker
    import requests

    container = None
    try:
        step(f"starting {built['tag']}")
        try:
            container = client.containers.run(built["image_id"], detach=True, name=name,
                                              ports={port_key: ("127.0.0.1", None)},
                                              labels={"org.mlci.verify": "1"})
        except (docker.errors.APIError, requests.exceptions.ConnectionError) as exc:
            raise InfraError(f"Docker daemon: cannot start {built['tag']}: {exc}") from None
        port, startup = _wait_healthy(container, port_key, vcfg.startup_timeout)
        result["startup_seconds"] = startup
        step(f"healthy on 127.0.0.1:{port} after {startup:.1f}s; checking {len(examples)} examples")
        result["examples"] = run_examples(port, examples, vcfg.tolerance)
        rows = verification_rows(target, cfg)
        if rows is not None:
            step(f"comparing the image's answers with the model's on {len(rows)} rows")
            result["parity"] = parity(port, target.model_dir, rows, list(cfg.model.trusted_types))
        load = vcfg.load
        body = None
        ctype = "application/json"
        for ex in examples:
            if ex["status"] == 200:
                req = ex["request"]
                body = req.encode() if isinstance(req, str) else json.dumps(req).encode()
                ctype = ex.get("content_type", ctype)
                break
        if body is None:
            body = _default_request(target.model_dir)
        step(f"load test: {load.seconds:g}s at concurrency {load.concurrency}")
        result["load"] = load_test(port, body, ctype, load.seconds, load.concurrency, load.max_requests)
    finally:
        if container is not None:
            if "load" not in result:
                try:
                    result["logs_tail"] = container.logs(tail=20).decode(errors="replace").splitlines()
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            try:
                container.remove(force=True)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not remove container %s: %s", name, exc)
    return None


def verification_rows(target: Target, cfg: Any = None) -> Any:
    """The run's test rows (features only), from the run directory or the store; None if neither has them."""
    import pandas as pd

    from mlci.model import read_signature

    path = target.model_dir.parent / "test.parquet"
    if not path.is_file() and target.run_id and target.registry_record is not None:
        try:
            from mlci.store import open_configured

            cache = target.records / "verification"
            if not (cache / "test.parquet").is_file():
                store = open_configured(None, cfg)
                store.download_run(target.run_id, cache, only=["test.parquet"])
            path = cache / "test.parquet"
        except Exception as exc:  # noqa: BLE001 - an older run without test rows: say so, go on
            log.info("no verification rows for %s: %s", target.tag, exc)
            return None
    if not path.is_file():
        return None
    names = [str(i["name"]) for i in read_signature(target.model_dir).get("inputs", [])]
    frame = pd.read_parquet(path)
    if not names or any(n not in frame.columns for n in names):
        return None
    return frame[names].head(PARITY_ROWS).reset_index(drop=True)


def _json_rows(frame: Any) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them: missing values as null, times as ISO 8601 text."""
    import math

    def plain(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NaTType", "NAType"):
            return None
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return v.item() if hasattr(v, "item") else v
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def parity(port: int, model_dir: Path, rows: Any, trusted: list[str] | None = None) -> dict[str, Any]:
    """The server's answers on ``rows`` (one at a time for the first PARITY_SINGLE, then all at
    once) against the model's own predict / predict_proba in this process."""
    import numpy as np

    from mlci.model import load_any

    model = load_any(model_dir, trusted=trusted)
    want = np.asarray(model.predict(rows))
    proba = np.asarray(model.predict_proba(rows)) if hasattr(model, "predict_proba") and \
        getattr(model, "classes_", None) is not None else None
    records = _json_rows(rows)
    path = "/invocations?proba=true" if proba is not None else "/invocations"
    problems: list[str] = []

    def post(batch: list[dict[str, Any]]) -> dict[str, Any] | None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", path, body=json.dumps({"dataframe_records": batch}),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            problems.append(f"HTTP {resp.status}: {data[:200].decode(errors='replace')}")
            return None
        return json.loads(data)

    def compare(out: dict[str, Any] | None, start: int, what: str) -> None:
        if out is None:
            return
        n = len(out["predictions"])
        exp = want[start:start + n]
        got = np.asarray(out["predictions"])
        if exp.dtype.kind == "f":
            bad = ~np.isclose(got.astype(float), exp, rtol=PARITY_TOLERANCE, atol=PARITY_TOLERANCE)
        else:
            bad = np.asarray([g != e for g, e in zip(got.tolist(), exp.tolist())], dtype=bool)
        if proba is not None and "probabilities" in out:
            pbad = ~np.isclose(np.asarray(out["probabilities"], dtype=float), proba[start:start + n],
                               rtol=PARITY_TOLERANCE, atol=PARITY_TOLERANCE).all(axis=1)
            bad = bad | pbad
        for i in np.flatnonzero(bad)[:3]:
            problems.append(f"{what}: row {start + int(i)}: image {got[i]!r}, model {exp[i]!r}")

    single = min(PARITY_SINGLE, len(records))
    for i in range(single):
        compare(post(records[i:i + 1]), i, "alone")
    compare(post(records), 0, f"batch of {len(records)}")
    return {"rows": len(records), "single_rows": single, "passed": not problems, "problems": problems[:10]}


def gates(result: VerifyResult, load: Any) -> list[VerifyGate]:
    out: list[VerifyGate] = []
    examples = result.get("examples", [])
    failed = [e for e in examples if not e["passed"]]
    out.append({"gate": "examples", "passed": not failed, "value": f"{len(examples) - len(failed)}/{len(examples)}",
                "detail": "; ".join(f"{e['name']}: {e['problem']}" for e in failed[:3]) or None})
    if "parity" in result:
        p = result["parity"]
        out.append({"gate": "parity", "passed": p["passed"], "value": f"{p['rows']} rows",
                    "detail": "; ".join(p["problems"][:3]) or None})
    stats = result["load"]
    out.append({"gate": "errors", "passed": stats["errors"] == 0, "value": stats["errors"], "threshold": 0,
                "detail": stats.get("first_error")})
    if load.min_rps is not None:
        out.append({"gate": "min_rps", "passed": stats["rps"] >= load.min_rps, "value": stats["rps"],
                    "threshold": load.min_rps})
    if load.max_p99_ms is not None:
        p99 = stats["p99_ms"]
        out.append({"gate": "max_p99_ms", "passed": p99 is not None and p99 <= load.max_p99_ms, "value": p99,
                    "threshold": load.max_p99_ms})
    return out


def _wait_healthy(container: Any, port_key: str, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    port = None
    while time.monotonic() - started < timeout:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=15).decode(errors="replace").strip()
            raise CheckFailed(f"the container exited during startup (status {container.attrs['State'].get('ExitCode')}):"
                              f" {logs.splitlines()[-1] if logs else 'no output'}")
        if port is None:
            bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(port_key)
            if bindings:
                port = int(bindings[0]["HostPort"])
        if port is not None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return port, time.monotonic() - started
            except (OSError, http.client.HTTPException):
                pass
        time.sleep(0.25)
    logs = container.logs(tail=5).decode(errors="replace").strip()
    raise CheckFailed(f"/health did not answer within {timeout:g}s (image.verify.startup_timeout); "
                      f"last output: {logs or 'none'}")
