"""`mlci reproduce NAME@VERSION`: retrain from a version's recorded lineage (config, data,
seed) and check that the predictions on its test set are identical."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import yaml

from mlci import config as config_mod
from mlci.errors import UsageError
from mlci.model import MODEL_FILE
from mlci.registry import Registry, store_run_id
from mlci.sources import PartRecord, SourceSummary
from mlci.store.base import Store
from mlci.util import read_json, sha256_file

log = logging.getLogger(__name__)


def _data_file(store: Store, record: dict[str, Any], role: str, entry: dict[str, Any], work: Path) -> Path:
    """A single data file with the recorded hash: from the store (keep_data) or its recorded path."""
    manifest = store.get_manifest(store_run_id(record))["files"]
    stored = next((k for k in manifest if k.startswith(f"data/{role}.")), None)
    if stored:
        dest = work / "data" / stored.split("/", 1)[1]
        store.download_run(store_run_id(record), work, only=[stored])
        return dest
    local = Path(entry["path"])
    if local.is_file() and sha256_file(local) == entry["sha256"]:
        return local
    raise UsageError(f"{record['name']} v{record['version']}: the {role} data ({entry['path']}, sha256 "
                     f"{entry['sha256'][:12]}) is neither in the store nor unchanged on disk; "
                     "publish with store.keep_data: true to make versions reproducible")


def _data_source(store: Store, record: dict[str, Any], role: str, entry: SourceSummary, work: Path,
                 parts: list[PartRecord]) -> tuple[str, list[PartRecord] | None]:
    """(data setting, pinned parts) for a source of several files or objects: the store's copy
    (keep_data); the exact object versions read (versioned bucket); the objects or files as they
    are when their ETags or hashes still match; else one line saying why it cannot be read."""
    from mlci.sources import open_source

    run_id = store_run_id(record)
    if any(k.startswith(f"data/{role}/") for k in store.get_manifest(run_id)["files"]):
        store.download_run(run_id, work, only=[f"data/{role}/"])
        return str(work / "data" / role), None
    label = f"{record['name']} v{record['version']}"
    if entry.get("kind") == "s3":
        if parts and all(p.get("version_id") for p in parts):
            return entry["path"], parts
        now = {p.name: p.etag for p in open_source(entry["path"], None, f"data.{role}").parts()}
        changed = [p["name"] for p in parts if now.get(p["name"]) != p.get("etag")]
        changed += sorted(set(now) - {p["name"] for p in parts})
        if changed:
            raise UsageError(f"{label}: the {role} data in {entry['path']} changed since training "
                             f"({changed[0]}{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}) "
                             "and the bucket keeps no old versions; enable bucket versioning or publish "
                             "with store.keep_data: true")
        return entry["path"], parts
    source = open_source(entry["path"], None, f"data.{role}")
    now_sha = {p["name"]: p.get("sha256") for p in source.part_records(_NoCache())}
    if now_sha != {p["name"]: p.get("sha256") for p in parts}:
        raise UsageError(f"{label}: the {role} data ({entry['path']}) changed on disk since training; "
                         "publish with store.keep_data: true to make versions reproducible")
    return entry["path"], None


class _NoCache:
    def sha256(self, path: Path) -> str:
        return sha256_file(path)


def reproduce(store: Store, name: str, ref: str) -> dict[str, Any]:
    import pandas as pd

    from mlci.model import load_any
    from mlci.runs import Project
    from mlci.train import train

    registry = Registry(store, name)
    record = registry.resolve(ref)
    lineage = record["lineage"]
    cfg = dict(lineage["config"])
    with tempfile.TemporaryDirectory(prefix="mlci-reproduce-") as tmp:
        work = Path(tmp)
        data = dict(cfg["data"])
        pins: dict[str, list[PartRecord]] = {}
        recorded_parts: dict[str, Any] = {}
        if any("parts" in (lineage["data"].get(r) or {}) for r in ("train", "test")):
            store.download_run(store_run_id(record), work / "lineage", only=["data.json"])
            recorded_parts = read_json(work / "lineage" / "data.json")
        for role in ("train", "test"):
            entry = lineage["data"].get(role)
            if entry and "parts" in entry:
                data[role], pinned = _data_source(store, record, role, entry, work, recorded_parts.get(role, []))
                if pinned is not None:
                    pins[role] = pinned
            elif entry:
                data[role] = str(_data_file(store, record, role, entry, work))
        data["schema"] = None
        data["reference"] = None
        cfg["data"] = data
        cfg["store"] = {**cfg.get("store", {}), "uri": str(work / "store")}
        (work / "mlci.yaml").write_text(yaml.safe_dump(cfg))
        project = Project(config_mod.load(work / "mlci.yaml"))
        project.workspace = work / ".mlci"
        project.pins = pins
        out = train(project, force=True)
        run = project.run(out["run_id"])
        store.download_run(store_run_id(record), work / "original", only=["model/", "test.parquet"])
        test = pd.read_parquet(work / "original" / "test.parquet")
        test.pop(cfg["data"]["target"])
        trusted = cfg.get("model", {}).get("trusted_types", [])
        original = load_any(work / "original" / "model", trusted).predict(test)
        retrained = load_any(run.file("model"), trusted).predict(test)
        same = int((original == retrained).sum())
        identical = same == len(test)
        code_now = project.code["hash"]
        # the same fit saves the same bytes (mlci.model.skops); None for a format without one file
        files = [work / "original" / "model" / MODEL_FILE, run.file("model") / MODEL_FILE]
        file_identical = sha256_file(files[0]) == sha256_file(files[1]) if all(f.is_file() for f in files) else None
    return {"name": name, "version": record["version"], "identical": identical, "rows": len(test),
            "matching_rows": same, "model_file_identical": file_identical,
            "fingerprint_recorded": record["fingerprint"],
            "fingerprint_now": out["fingerprint"],
            "versions_recorded": lineage.get("versions"), "versions_now": project.versions,
            "code_recorded": lineage.get("code", {}).get("hash"), "code_now": code_now}
