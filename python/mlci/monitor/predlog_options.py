"""`mlci serve` options for prediction logging: flags over the `monitor.log` section of mlci.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci.errors import UsageError


def logging_options(config_path: str | None, directory: str | None, sample_rate: float | None) -> dict[str, Any] | None:
    """PredictionLog keyword arguments, or None when prediction logging is off."""
    from mlci.monitor.settings import PredictionLogging

    settings, base = PredictionLogging(), Path.cwd()
    if config_path and Path(config_path).is_file():
        from mlci import config

        cfg = config.load(config_path)
        settings, base = cfg.monitor.log, cfg.root
    if sample_rate is not None and not 0.0 <= sample_rate <= 1.0:
        raise UsageError(f"--log-sample-rate {sample_rate}: expected a number from 0 to 1")
    if directory is None:
        if settings.dir is None:
            if sample_rate is not None:
                raise UsageError("--log-sample-rate needs --log-predictions DIR (or monitor.log.dir in mlci.yaml)")
            return None
        directory = str(base / settings.dir)
    return {"directory": directory,
            "sample_rate": settings.sample_rate if sample_rate is None else sample_rate,
            "max_bytes": settings.max_bytes, "rotate_seconds": settings.rotate_seconds,
            "keep_files": settings.keep_files, "queue_size": settings.queue_size,
            "flush_seconds": settings.flush_seconds}
