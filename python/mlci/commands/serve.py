"""mlci serve --model DIR|NAME@VERSION|NAME@ALIAS [--host] [--port] [--workers]"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="DIR|NAME@REF",
                        help="a model directory, a run directory, or a registered model: NAME@VERSION, "
                             "NAME@ALIAS, NAME (latest); default: the latest run's model")
    parser.add_argument("--host", default=os.environ.get("MLCI_SERVE_HOST", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 in images)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLCI_SERVE_PORT", "8080")),
                        help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("MLCI_SERVE_WORKERS", "1")),
                        help="worker processes (default 1; one per core serves most)")
    parser.add_argument("--max-body-mb", type=float,
                        default=float(os.environ.get("MLCI_SERVE_MAX_BODY_MB", "256")),
                        help="largest request body accepted, in MiB (default 256)")
    parser.add_argument("--engine", choices=("auto", "sklearn"), default="auto",
                        help="auto: fast array path where it matches scikit-learn exactly; "
                             "sklearn: always the plain pipeline")
    parser.add_argument("--store", help="store URI for NAME@REF (default: from mlci.yaml, MLCI_STORE)")
    parser.add_argument("--log-predictions", metavar="DIR", default=os.environ.get("MLCI_LOG_PREDICTIONS"),
                        help="log sampled predictions as rotated JSONL files in DIR (default: "
                             "monitor.log.dir from mlci.yaml, MLCI_LOG_PREDICTIONS; see docs/monitoring.md)")
    parser.add_argument("--log-sample-rate", metavar="R", type=float,
                        default=float(os.environ["MLCI_LOG_SAMPLE_RATE"]) if os.environ.get("MLCI_LOG_SAMPLE_RATE") else None,
                        help="share of requests logged, 0..1 (default: monitor.log.sample_rate, 1.0)")


def run(args: argparse.Namespace) -> int:
    import logging

    from mlci import serve
    from mlci.errors import UsageError
    from mlci.serve.resolve import resolve_model

    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: expected 1 or more")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0..65535")
    model_dir, trusted, info = resolve_model(args.model, args.config, args.store)
    trusted = trusted + [t for t in os.environ.get("MLCI_TRUSTED_TYPES", "").split(",") if t]
    name = info.get("name") or os.environ.get("MLCI_MODEL_NAME") or None
    version = info.get("version") or os.environ.get("MLCI_MODEL_VERSION") or None
    fingerprint = info.get("fingerprint") or os.environ.get("MLCI_MODEL_FINGERPRINT") or None
    log = logging.getLogger("mlci.serve")

    def ready(app, port: int) -> None:  # noqa: ANN001
        p = app.predictor
        version = f" v{p.version}" if p.version else ""
        # always shown: scripts and people wait for this line
        import sys

        print(f"mlci serve: {p.name}{version} on http://{args.host}:{port} "
              f"({args.workers} worker{'s' if args.workers > 1 else ''}, engine {p.engine})",
              file=sys.stderr, flush=True)

    log.debug("model directory %s", model_dir)
    from mlci.monitor.predlog_options import logging_options

    serve.run(Path(model_dir), args.host, args.port, args.workers, args.max_body_mb, args.engine,
              trusted, on_ready=ready, name=name, version=version, fingerprint=fingerprint,
              log_predictions=logging_options(args.config, args.log_predictions, args.log_sample_rate))
    return 0
