"""The endpoints: what each path answers. No sockets here (mlci.serve.http carries the bytes).

  GET  /ping         200, empty body (liveness; MLflow's probe)
  GET  /health       200 JSON: model loaded, name, version, fingerprint, engine
  GET  /version      200 JSON: mlci, Python and scikit-learn versions, the model
  POST /invocations  predictions (formats: mlci.serve.wire)
  GET  /metrics      Prometheus text
"""

from __future__ import annotations

import json
import logging
import platform
import time
from typing import Any
from urllib.parse import parse_qsl

from mlci.serve import wire
from mlci.serve.metrics import Metrics
from mlci.serve.predictor import Predictor

log = logging.getLogger(__name__)

JSON = "application/json"
ROUTES = {"/ping": ("GET", "ping"), "/health": ("GET", "health"), "/version": ("GET", "version"),
          "/invocations": ("POST", "invocations"), "/metrics": ("GET", "metrics")}

Response = tuple[int, str, bytes]


class App:
    def __init__(self, predictor: Predictor, metrics: Metrics, max_body: int, predlog: Any = None):
        self.predictor = predictor
        self.predlog = predlog  # mlci.monitor.predlog.PredictionLog, or None
        self.metrics = metrics
        self.max_body = max_body
        self._health = json.dumps({
            "status": "ok", "model": predictor.name, "version": predictor.version,
            "fingerprint": predictor.fingerprint, "task": predictor.task, "engine": predictor.engine,
            "inputs": len(predictor.schema.names)}).encode()
        self._version = json.dumps(_versions(predictor)).encode()
        self._ignored_seen: set[tuple[str, ...]] = set()

    def handle(self, method: str, target: str, content_type: str | None, body: bytes,
               request_id: str | None = None) -> Response:
        start = time.perf_counter()
        path, _, query = target.partition("?")
        route = ROUTES.get(path)
        if route is None:
            status, ctype, out = 404, JSON, wire.error_body(
                f"no such endpoint {path!r}; expected one of {', '.join(ROUTES)}", "NOT_FOUND")
            self.metrics.error("not_found")
            endpoint = "other"
        else:
            allowed, endpoint = route
            if method != allowed and not (method == "HEAD" and allowed == "GET"):
                status, ctype, out = 405, JSON, wire.error_body(
                    f"{method} is not allowed on {path}; use {allowed}", "METHOD_NOT_ALLOWED")
                self.metrics.error("method_not_allowed")
            elif endpoint == "invocations":
                status, ctype, out = self.invocations(body, content_type, query, request_id)
            elif endpoint == "ping":
                status, ctype, out = 200, "text/plain", b""
            elif endpoint == "health":
                status, ctype, out = 200, JSON, self._health
            elif endpoint == "version":
                status, ctype, out = 200, JSON, self._version
            else:
                status, ctype, out = 200, "text/plain; version=0.0.4; charset=utf-8", self.metrics.render(
                    self.predictor.name, self.predictor.version, self.predictor.engine)
                if self.predlog is not None:
                    out += self.predlog.render()
        seconds = time.perf_counter() - start if endpoint == "invocations" else None
        self.metrics.request(endpoint, status, seconds)
        return status, ctype, out

    def invocations(self, body: bytes, content_type: str | None, query: str,
                    request_id: str | None = None) -> Response:
        start = time.perf_counter()
        try:
            params = dict(parse_qsl(query)) if query else None
            try:
                request = wire.parse(body, content_type, self.predictor.schema, params, self.predictor.takes_array)
            except RecursionError:  # e.g. 100,000 nested '[': json's recursion limit, not a bug
                raise wire.BadRequest("request body is nested too deeply") from None
            if request.ignored:
                self._ignored(request.ignored)
            labels, proba = self.predictor.predict(request.rows, request.proba)
            out = wire.predictions_body(labels, self.predictor.classes if proba is not None else None, proba)
        except wire.UnsupportedMediaType as exc:
            self.metrics.error("unsupported_media_type")
            return exc.status, JSON, wire.error_body(str(exc), "UNSUPPORTED_MEDIA_TYPE")
        except wire.BadRequest as exc:
            self.metrics.error("bad_request")
            return 400, JSON, wire.error_body(str(exc))
        except Exception as exc:  # a bug or a model failure: logged, answered as 500
            log.exception("prediction failed")
            self.metrics.error("internal")
            return 500, JSON, wire.error_body(f"internal error: {type(exc).__name__}", "INTERNAL_ERROR")
        self.metrics.predictions(labels)
        if self.predlog is not None and request_id is not None:
            self.predlog.log(request_id, body, content_type, out, time.perf_counter() - start)
        return 200, JSON, out

    def _ignored(self, names: list[str]) -> None:
        """Columns the model does not take are ignored, as MLflow does: said once per set."""
        key = tuple(names)
        if key not in self._ignored_seen and len(self._ignored_seen) < 100:
            self._ignored_seen.add(key)
            log.warning("ignoring request columns the model does not take: %s", ", ".join(names[:20]))

    def request_id(self, given: str | None) -> str | None:
        """The id echoed in X-Request-ID: the client's, or a new one when predictions are logged."""
        if self.predlog is not None:
            return self.predlog.request_id(given)
        return given if given and len(given) <= 128 and given.isprintable() else None

    def bind(self, worker: int) -> None:
        """In a forked worker: its row of the shared counters."""
        self.metrics.bind(worker)
        if self.predlog is not None:
            self.predlog.bind(worker)

    def close(self) -> None:
        """Worker shutdown: flush the prediction log."""
        if self.predlog is not None:
            self.predlog.close()

    def too_large(self, size: int) -> Response:
        self.metrics.error("body_too_large")
        self.metrics.request("invocations", 413)
        return 413, JSON, wire.error_body(
            f"the body is {size} bytes; the limit is {self.max_body} bytes (mlci serve --max-body-mb)",
            "REQUEST_TOO_LARGE")


def _versions(predictor: Predictor) -> dict[str, Any]:
    from mlci import __version__

    out: dict[str, Any] = {"mlci": __version__, "python": platform.python_version(),
                           "model": predictor.name, "model_version": predictor.version,
                           "fingerprint": predictor.fingerprint}
    try:
        import sklearn

        out["scikit-learn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    return out
