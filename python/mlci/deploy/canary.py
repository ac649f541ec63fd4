"""A canary: the new version gets a share of the requests while its own numbers are watched.

The numbers come from the new server's ``/metrics`` (the Prometheus text `mlci serve`
exposes): /invocations answered, answered 5xx, and the latency histogram; each look compares
them with the first scrape, so only the canary window counts. Where the server logs
predictions (``MLCI_LOG_PREDICTIONS`` in the environment's ``env``), its logged inputs are
compared with the version's reference statistics by the same drift engine as
`mlci monitor drift`. The first look out of bounds ends the canary (the caller switches the
proxy back); the window's end with too few requests ends it too, since nothing vouches for
the version. Every step is an audit event: started, each look, then promoted or rolled_back.
"""

from __future__ import annotations

import http.client
import logging
import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlci.deploy import core
from mlci.deploy.settings import LOG_MOUNT
from mlci.errors import CheckFailed, DataError, NotFoundError

log = logging.getLogger(__name__)

_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Counts:
    """What a server's /metrics says about /invocations, cumulative since it started."""

    requests: float = 0
    errors: float = 0                                                # answered 5xx
    buckets: dict[float, float] = field(default_factory=dict)        # upper bound (s) -> cumulative count


def parse(text: str) -> Counts:
    counts = Counts()
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))
        if name == "mlci_requests_total" and labels.get("endpoint") == "invocations":
            counts.requests += value
            if labels.get("code", "").startswith("5"):
                counts.errors += value
        elif name == "mlci_request_duration_seconds_bucket" and "le" in labels:
            counts.buckets[float(labels["le"])] = value       # float("+Inf") is inf
    return counts


@dataclass
class Window:
    """The canary's numbers between two scrapes."""

    requests: int
    errors: int
    error_rate: float
    p99_ms: float | None      # the upper bound of the histogram bucket holding the 99th percentile


def window(before: Counts, after: Counts) -> Window:
    requests = max(0, round(after.requests - before.requests))
    errors = max(0, round(after.errors - before.errors))
    p99 = None
    deltas = sorted((le, after.buckets[le] - before.buckets.get(le, 0)) for le in after.buckets)
    total = deltas[-1][1] if deltas else 0
    if total > 0:
        le = next(le for le, n in deltas if n >= 0.99 * total)
        p99 = le * 1000 if math.isfinite(le) else math.inf
    return Window(requests, errors, errors / requests if requests else 0.0, p99)


def scrape(base_url: str) -> Counts:
    try:
        status, body = core._request(base_url.rstrip("/") + "/metrics", timeout=5)
    except (OSError, http.client.HTTPException) as exc:
        raise CheckFailed(f"canary: {base_url}/metrics unreachable: {exc}") from None
    if status != 200:
        raise CheckFailed(f"canary: {base_url}/metrics answered {status}")
    return parse(body.decode(errors="replace"))


def judge(w: Window, settings: Any, drift: dict[str, Any] | None, last: bool) -> str | None:
    """Why the canary fails, or None."""
    if drift is not None and drift.get("failed"):
        return f"input drift: {drift.get('summary')}"
    if w.requests < max(settings.min_requests, 1):
        return (f"only {w.requests} requests reached the new version in {settings.duration:g}s "
                f"(min_requests {settings.min_requests}): nothing to judge it by") if last else None
    if w.error_rate > settings.max_error_rate:
        return (f"error rate {w.error_rate:.1%} ({w.errors} of {w.requests} requests answered 5xx) "
                f"> max_error_rate {settings.max_error_rate:.1%}")
    if settings.max_p99_ms is not None and w.p99_ms is not None and w.p99_ms > settings.max_p99_ms:
        return f"p99 latency {w.p99_ms:g} ms > max_p99_ms {settings.max_p99_ms:g} ms"
    return None


def watch(settings: Any, url: str, step: Callable[[str], None], audit: Callable[..., None],
          drift_check: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """Look at the new version every ``interval`` seconds for ``duration``; CheckFailed at the
    first look out of bounds. Returns the window's numbers."""
    bounds = {"max_error_rate": settings.max_error_rate, "max_p99_ms": settings.max_p99_ms,
              "min_requests": settings.min_requests, "drift": drift_check is not None}
    first = scrape(url)
    started = time.monotonic()
    audit("started", weight=settings.weight, duration=settings.duration, interval=settings.interval, bounds=bounds)
    step(f"canary: {settings.weight}% of requests to the new version for {settings.duration:g}s")
    looks = max(1, math.ceil(settings.duration / settings.interval))
    for i in range(looks):
        time.sleep(min(settings.interval, max(0.0, started + settings.duration - time.monotonic())))
        w = window(first, scrape(url))
        drift = drift_check() if drift_check is not None else None
        elapsed = round(time.monotonic() - started, 1)
        numbers = {**asdict(w), "elapsed_s": elapsed,
                   **({"drift": {"failed": drift.get("failed"), "summary": drift.get("summary")}} if drift else {})}
        problem = judge(w, settings, drift, last=i == looks - 1)
        step(f"canary after {elapsed:g}s: {w.requests} requests, {w.error_rate:.1%} errors, p99 "
             f"{'-' if w.p99_ms is None else f'{w.p99_ms:g} ms'}" + (f": {problem}" if problem else ""))
        if problem:
            audit("rolled_back", reason=problem, **numbers)
            raise CheckFailed(f"canary rolled back after {elapsed:g}s: {problem}")
        audit("observed", **numbers)
    audit("promoted", **numbers)
    return {"weight": settings.weight, **numbers}


def drift_check(cfg: Any, registry: Any, rel: core.Release, env: Any) -> Callable[[Any], Any] | None:
    """For a server that logs predictions: a function of its container giving the drift check
    (None while nothing is logged). None where logging is off, or the version has no reference
    statistics (then there is nothing to compare with; the canary still watches the rest)."""
    log_dir = env.env.get("MLCI_LOG_PREDICTIONS") or (LOG_MOUNT if env.prediction_logs else None)
    if not log_dir or env.canary is None or not env.canary.drift:
        return None
    from mlci.monitor.drift import fetch_reference_stats, live_drift

    try:
        stats = fetch_reference_stats(registry.store, rel.record, cfg.root / ".mlci")
    except NotFoundError as exc:
        log.warning("canary: no drift check: %s", exc)
        return None
    settings = cfg.validate_
    if cfg.monitor.drift is not None:
        settings = settings.model_copy(update={"drift": cfg.monitor.drift})

    def for_container(container: Any) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            import docker

            with tempfile.TemporaryDirectory(prefix="mlci-canary-") as tmp:
                try:
                    stream, _ = container.get_archive(log_dir)
                except docker.errors.NotFound:
                    return None
                archive = Path(tmp) / "logs.tar"
                with archive.open("wb") as f:
                    for chunk in stream:
                        f.write(chunk)
                import tarfile

                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
                try:
                    return live_drift(rel.record, stats, Path(tmp) / Path(log_dir).name, settings)
                except DataError:
                    return None      # nothing logged yet
        return check

    return for_container
