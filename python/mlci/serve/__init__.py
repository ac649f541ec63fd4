"""The model server behind `mlci serve` and inside every model image.

  wire.py       the accepted request formats and their 400s (one module owns them)
  predictor.py  the loaded model and its fast, parity-checked prediction path
  forest.py     tree ensembles compiled to flat arrays
  app.py        the endpoints (/ping, /health, /version, /invocations, /metrics)
  metrics.py    Prometheus counters shared across worker processes
  http.py       the asyncio HTTP/1.1 server and the pre-forked workers
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

DEFAULT_MAX_BODY_MB = 256


def build_app(model_dir: Path, workers: int = 1, max_body_mb: float = DEFAULT_MAX_BODY_MB,
              engine: str = "auto", trusted: list[str] | None = None, name: str | None = None,
              version: str | None = None, log_predictions: dict | None = None,
              fingerprint: str | None = None):
    """Load the model and return the App (endpoints + shared metrics).

    ``log_predictions``: keyword arguments of mlci.monitor.predlog.PredictionLog (``directory``,
    ``sample_rate``, ...); None: no prediction log."""
    from mlci.serve.app import App
    from mlci.serve.metrics import Metrics
    from mlci.serve.predictor import Predictor

    predictor = Predictor(model_dir, trusted=trusted, engine=engine, name=name, version=version,
                          fingerprint=fingerprint)
    predlog = None
    if log_predictions:  # prediction logging (mlci.monitor): off the request path
        from mlci.monitor.predlog import PredictionLog

        predlog = PredictionLog(**log_predictions, workers=max(1, workers), model=predictor.name,
                                version=predictor.version, columns=predictor.schema.names,
                                dtypes=predictor.schema.dtypes, classes=predictor.classes)
    return App(predictor, Metrics(max(1, workers), predictor.classes), int(max_body_mb * 1024 * 1024),
               predlog=predlog)


def run(model_dir: Path, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
        max_body_mb: float = DEFAULT_MAX_BODY_MB, engine: str = "auto", trusted: list[str] | None = None,
        on_ready: Callable[[object, int], None] | None = None, name: str | None = None,
        version: str | None = None, log_predictions: dict | None = None,
        fingerprint: str | None = None) -> None:
    """Serve ``model_dir`` until SIGTERM/SIGINT."""
    from mlci.serve import http

    app = build_app(model_dir, workers, max_body_mb, engine, trusted, name, version, log_predictions,
                    fingerprint)
    http.serve(app, host, port, workers, on_ready=(lambda p: on_ready(app, p)) if on_ready else None)
