"""The canary's judgement without Docker: /metrics parsing and windows, the bounds, the watch
loop against a loopback /metrics server, input drift from prediction logs as a container
holds them, the proxy configuration and the settings. The canary on the real Docker daemon is
in test_deploy.py."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlci.deploy import canary, proxy
from mlci.deploy.settings import Canary, Proxy
from mlci.errors import CheckFailed

METRICS = """# HELP mlci_requests_total HTTP requests by endpoint and status code.
# TYPE mlci_requests_total counter
mlci_requests_total{{endpoint="invocations",code="200"}} {ok}
mlci_requests_total{{endpoint="invocations",code="400"}} 3
mlci_requests_total{{endpoint="invocations",code="500"}} {errors}
mlci_requests_total{{endpoint="health",code="200"}} 50
mlci_request_duration_seconds_bucket{{le="0.01"}} {fast}
mlci_request_duration_seconds_bucket{{le="0.25"}} {medium}
mlci_request_duration_seconds_bucket{{le="+Inf"}} {total}
mlci_request_duration_seconds_count {total}
"""


def metrics(ok: int, errors: int, fast: int, medium: int) -> str:
    return METRICS.format(ok=ok, errors=errors, fast=fast, medium=medium, total=ok + errors + 3)


def test_metrics_window_counts_only_what_happened_between_two_scrapes():
    before = canary.parse(metrics(ok=100, errors=0, fast=103, medium=103))
    after = canary.parse(metrics(ok=190, errors=10, fast=153, medium=203))
    assert before.requests == 103 and before.errors == 0
    w = canary.window(before, after)
    assert (w.requests, w.errors) == (100, 10) and w.error_rate == pytest.approx(0.1)
    assert w.p99_ms == 250             # 50 of 100 under 10 ms, all under 250 ms
    slow = canary.parse(metrics(ok=190, errors=10, fast=153, medium=180))
    assert canary.window(before, slow).p99_ms == float("inf")
    assert canary.window(before, before).p99_ms is None


def test_judge_names_the_bound_that_was_crossed():
    settings = Canary(min_requests=20, max_error_rate=0.05, max_p99_ms=100)
    w = canary.Window(requests=100, errors=10, error_rate=0.1, p99_ms=50)
    assert "error rate 10.0% (10 of 100 requests answered 5xx) > max_error_rate 5.0%" in canary.judge(w, settings, None, False)
    assert "p99 latency 250 ms > max_p99_ms 100 ms" in canary.judge(canary.Window(100, 0, 0.0, 250), settings, None, False)
    assert canary.judge(canary.Window(100, 0, 0.0, 50), settings, None, False) is None
    # too few requests: no verdict yet; at the window's end it fails
    few = canary.Window(requests=5, errors=5, error_rate=1.0, p99_ms=50)
    assert canary.judge(few, settings, None, False) is None
    assert "only 5 requests" in canary.judge(few, settings, None, True)
    drifted = {"failed": True, "summary": "drift FAILED: 1/1 columns drifted"}
    assert canary.judge(canary.Window(100, 0, 0.0, 50), settings, drifted, False) == \
        "input drift: drift FAILED: 1/1 columns drifted"


class _MetricsServer:
    """A loopback /metrics whose numbers the test moves on each scrape."""

    def __init__(self, pages: list[str]):
        pages_left = list(pages)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = (pages_left.pop(0) if len(pages_left) > 1 else pages_left[0]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_watch_promotes_within_bounds_and_records_every_step():
    server = _MetricsServer([metrics(0, 0, 0, 0), metrics(30, 0, 33, 33), metrics(60, 0, 63, 63),
                             metrics(90, 0, 93, 93)])
    events: list[tuple[str, dict]] = []
    try:
        out = canary.watch(Canary(weight=20, duration=0.3, interval=0.1, min_requests=50), server.url,
                           lambda _m: None, lambda step, **f: events.append((step, f)))
    finally:
        server.close()
    assert [s for s, _ in events] == ["started", "observed", "observed", "observed", "promoted"]
    assert events[0][1]["weight"] == 20 and events[0][1]["bounds"]["max_error_rate"] == 0.01
    assert out["requests"] == 90 and out["error_rate"] == 0 and out["weight"] == 20


def test_watch_rolls_back_at_the_first_look_out_of_bounds():
    server = _MetricsServer([metrics(0, 0, 0, 0), metrics(40, 20, 63, 63)])
    events: list[tuple[str, dict]] = []
    try:
        with pytest.raises(CheckFailed, match=r"canary rolled back after .*s: error rate 33.3%"):
            canary.watch(Canary(duration=60, interval=0.1, min_requests=10), server.url,
                         lambda _m: None, lambda step, **f: events.append((step, f)))
    finally:
        server.close()
    assert [s for s, _ in events] == ["started", "rolled_back"]
    assert events[-1][1]["errors"] == 20 and events[-1][1]["elapsed_s"] < 5


def test_watch_rolls_back_when_the_new_version_stops_answering_metrics():
    server = _MetricsServer([metrics(0, 0, 0, 0)])
    url = server.url
    server.close()
    with pytest.raises(CheckFailed, match="/metrics unreachable"):
        canary.watch(Canary(duration=1, interval=0.1), url, lambda _m: None, lambda *_a, **_f: None)


class _Container:
    """What drift_check uses of a docker container: get_archive of the log directory."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def get_archive(self, path):
        import docker

        if self.directory is None:
            raise docker.errors.NotFound("no such directory")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(self.directory, arcname=Path(path).name)
        return iter([buf.getvalue()]), {}


def _logged(directory: Path, xs: np.ndarray) -> Path:
    from mlci.monitor.predlog import PredictionLog

    plog = PredictionLog(directory, columns=["x"], dtypes=["float64"], model="m", version="2", flush_seconds=0.05)
    for i, x in enumerate(xs):
        plog.log(f"r{i}", json.dumps({"dataframe_records": [{"x": float(x)}]}).encode(), "application/json",
                 b'{"predictions": [1]}', 0.001)
    plog.close()
    return directory


@pytest.fixture
def drift_setup(tmp_path):
    """A registered version whose published run holds reference_stats.json (x ~ N(0, 1)), and
    an environment whose server logs predictions to /srv/logs."""
    from mlci import config
    from mlci.deploy import core
    from mlci.registry import Registry
    from mlci.store import open_store
    from mlci.validation import reference_stats, write_reference_stats

    rng = np.random.default_rng(0)
    stats = tmp_path / "reference_stats.json"
    write_reference_stats(reference_stats(pd.DataFrame({"x": rng.normal(0, 1, 2000)})), stats)
    registry = Registry(open_store(".mlci/store", tmp_path), "m")
    registry.store.publish_run("run2", {"reference_stats.json": stats})
    record, _ = registry.register({"fingerprint": "fp2", "run_id": "run2", "blessed": True})
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
        "name": "m", "task": "classification", "data": {"train": "t.csv", "target": "y"},
        "deploy": {"live": {"target": "docker", "env": {"MLCI_LOG_PREDICTIONS": "/srv/logs"},
                            "canary": {"duration": 60}},
                   "quiet": {"target": "docker", "canary": {}}}}))
    cfg = config.load(tmp_path / "mlci.yaml")
    rel = core.Release("m", record["version"], "r/m@sha256:" + "0" * 64, "r/m", "sha256:" + "0" * 64, record)
    return cfg, registry, rel, rng, tmp_path


def test_drift_check_reads_the_containers_prediction_logs(drift_setup):
    cfg, registry, rel, rng, tmp = drift_setup
    for_container = canary.drift_check(cfg, registry, rel, cfg.deploy["live"])
    assert for_container is not None
    assert for_container(_Container(None))() is None                  # nothing logged yet
    same = for_container(_Container(_logged(tmp / "same", rng.normal(0, 1, 400))))()
    assert same["failed"] is False and same["current"]["kind"] == "prediction-logs"
    shifted = for_container(_Container(_logged(tmp / "shifted", rng.normal(3, 1, 400))))()
    assert shifted["failed"] is True
    assert canary.judge(canary.Window(400, 0, 0.0, 5), cfg.deploy["live"].canary, shifted, False).startswith(
        "input drift: drift FAILED")
    # no prediction logs, or drift switched off: no drift check
    assert canary.drift_check(cfg, registry, rel, cfg.deploy["quiet"]) is None
    off = cfg.deploy["live"].model_copy(update={"canary": Canary(drift=False)})
    assert canary.drift_check(cfg, registry, rel, off) is None


def test_proxy_configuration_lists_the_servers_with_traffic_and_their_weights():
    text = proxy.render("mlci-m-live", [proxy.Server("blue", "mlci-m-live-blue", 1, 90),
                                        proxy.Server("green", "mlci-m-live-green", 2, 10)], 8080,
                        Proxy(drain_timeout=12, timeout=30))
    assert "    server blue mlci-m-live-blue:8080 weight 90\n" in text
    assert "    server green mlci-m-live-green:8080 weight 10\n" in text
    assert "hard-stop-after 12s" in text and "timeout server 30s" in text
    assert "expose-fd listeners" in text and "option idle-close-on-response" in text
    only = proxy.render("mlci-m-live", [proxy.Server("blue", "mlci-m-live-blue", 1, 0),
                                        proxy.Server("green", "mlci-m-live-green", 2, 100)], 8080, Proxy())
    assert "server blue" not in only and "server green mlci-m-live-green:8080 weight 100" in only
    assert proxy.dockerfile("debian:bookworm").startswith("# Rendered") and "FROM debian:bookworm\n" in \
        proxy.dockerfile("debian:bookworm")


def test_canary_settings_are_checked(tmp_path):
    from mlci import config
    from mlci.errors import ConfigError

    def load(env):
        (tmp_path / "mlci.yaml").write_text(yaml.safe_dump({
            "name": "m", "task": "regression", "data": {"train": "t.csv", "target": "y"}, "deploy": {"e": env}}))
        return config.load(tmp_path / "mlci.yaml")

    assert load({"target": "docker", "canary": {"weight": 25}}).deploy["e"].canary.weight == 25
    for env, message in [({"target": "docker", "canary": {"weight": 100}}, "weight"),
                         ({"target": "docker", "canary": {"wieght": 5}}, "wieght"),
                         ({"target": "kubernetes", "canary": {}}, "canary: works only for docker")]:
        with pytest.raises(ConfigError, match=message):
            load(env)
