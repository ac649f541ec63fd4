"""Live drift: the inputs a model saw in production vs its stored reference statistics.

The reference is ``reference_stats.json``, written by `mlci train` next to the model (from the
training features) and published with the run; it is fetched (sha256-verified) from the
store of the registered version. The comparison is mlci.validation's drift engine, with the
``monitor.drift`` settings (default: ``validate.drift``), so the numbers and thresholds are
the same as in `mlci validate`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypedDict

from mlci.errors import DataError, NotFoundError
from mlci.results import Failure
from mlci.validation.drift import DriftResult, drift_failures
from mlci.registry import store_run_id

DRIFT_FORMAT = "mlci-monitor-drift/1"


class LiveDrift(TypedDict):
    """drift.json, the result of `mlci monitor drift` (also its --json output)."""

    format: str                # DRIFT_FORMAT
    model: str
    version: int
    run_id: str | None
    current: dict[str, Any]    # what was compared: {kind: prediction-logs | data, ...}
    passed: bool
    failed: bool
    dataset_drift: bool
    summary: str
    drift: DriftResult         # validation.json's drift shape
    failures: list[Failure]    # the drift that failed it (validation's drift failures)


def open_model(ref: str, config_path: str | None, store_uri: str | None) -> tuple[Any, dict[str, Any], Any, Path]:
    """(store, version record, config or None, workspace) for NAME@VERSION|ALIAS."""
    from mlci.registry import Registry, parse_ref
    from mlci.store import open_configured

    cfg = None
    if config_path and Path(config_path).is_file():
        from mlci import config

        cfg = config.load(config_path)
    name, version = parse_ref(ref)
    root = cfg.root if cfg else Path.cwd()
    store = open_configured(store_uri, cfg)
    record = Registry(store, name).resolve(version)
    workspace = Path(os.environ.get("MLCI_WORKSPACE") or (root / ".mlci"))
    return store, record, cfg, workspace


def fetch_reference_stats(store: Any, record: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """The version's reference_stats.json (downloaded once into the cache, verified)."""
    from mlci.validation.engine import read_stats

    dest = workspace / "cache" / "models" / record["name"] / str(record["version"])
    manifest = store.get_manifest(store_run_id(record))
    if "reference_stats.json" not in manifest.get("files", {}):
        raise NotFoundError(f"{record['name']} v{record['version']} (run {record['run_id']}) has no "
                            "reference_stats.json in the store; retrain it with mlci.validation installed")
    got = store.download_run(store_run_id(record), dest, only=["reference_stats.json"])
    stats = read_stats(got["reference_stats.json"])
    stats["source"] = f"{record['name']} v{record['version']} reference_stats.json"
    return stats


def load_current(path: Path, stats: dict[str, Any], since: float | None = None) -> tuple[Any, dict[str, Any]]:
    """(table to compare, description) from prediction logs or a CSV/Parquet file."""
    from mlci.monitor import logs as predlogs

    path = Path(path)
    if not path.exists():
        raise DataError(f"--current {path}: no such file or directory")
    if path.is_dir() and not any(path.iterdir()):
        raise DataError(f"--current {path}: the directory is empty: no prediction logs (*.jsonl) yet; is the "
                        "server logging there (mlci serve --log-predictions, MLCI_LOG_PREDICTIONS, "
                        "deploy.<env>.prediction_logs)?")
    if predlogs.is_log_path(path):
        read = predlogs.read_logs(path, since)
        frame = predlogs.inputs_frame(read)
        info = {"kind": "prediction-logs", **read.describe(path)}
        if frame.empty:
            raise DataError(f"--current {path}: no logged predictions"
                            + (" in the --since window" if since is not None else ""))
        return _typed(frame, stats), info
    if since is not None:
        from mlci.errors import UsageError

        raise UsageError("--since applies to prediction logs; the data file is compared whole")
    return path, {"kind": "data", "path": str(path)}


def _typed(frame: Any, stats: dict[str, Any]) -> Any:
    """Logged JSON values in the reference's kinds (numbers stay numbers, categories text)."""
    import pandas as pd

    for name, col in stats.get("columns", {}).items():
        if name not in frame.columns:
            continue
        if col.get("kind") == "numeric":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif col.get("kind") == "categorical" and frame[name].dtype != bool:
            frame[name] = frame[name].map(lambda v: None if v is None else str(v)).astype("object")
    return frame


def live_drift(record: dict[str, Any], stats: dict[str, Any], current: Path, settings: Any,
               since: float | None = None) -> LiveDrift:
    """The drift report (drift.json's content)."""
    from mlci.validation import drift_against_stats

    table, info = load_current(current, stats, since)
    drift = drift_against_stats(table, stats, settings)
    if info["kind"] == "data":
        info["rows"] = max((c["stats"].get("current_count") or 0 for c in drift["columns"]), default=0)
    failed = bool(drift.get("failed"))
    drifted = [c["column"] for c in drift["columns"] if c["drifted"]]
    summary = (f"drift {'FAILED' if failed else 'ok'}: {drift['drifted']}/{drift['compared']} columns drifted "
               f"(share {drift['share']:.2f}, limit {drift['drift_share']})"
               + (f": {', '.join(drifted[:8])}{' ...' if len(drifted) > 8 else ''}" if drifted else ""))
    return {"format": DRIFT_FORMAT, "model": record["name"], "version": record["version"],
            "run_id": record.get("run_id"), "current": info, "passed": not failed, "failed": failed,
            "dataset_drift": drift["dataset_drift"], "summary": summary, "drift": drift,
            "failures": drift_failures(drift)}


def write_report(result: dict[str, Any], out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
