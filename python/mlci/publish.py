"""Publishing: the run's files go into the store as content-addressed blobs, the run manifest
is written last, then a registry version is created with the run's lineage.

A publish holds a lease in the store (the blobs it relies on) from before it checks which blobs
exist until its version is registered, so `mlci gc` never deletes what it reuses. Killed at any
step, the rerun completes it: blobs that arrived are not sent again, the manifest is the same,
and a version created without its event or claim is completed, not registered again."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from mlci import crashpoints
from mlci import fingerprint as fp
from mlci.errors import IntegrityError, NotFoundError
from mlci.registry import Registry
from mlci.runs import Project, Run, read_json, write_json

SKIP = {"stages", "publish.json"}


def run_files(run: Run) -> dict[str, Path]:
    files = {}
    for path in sorted(run.path.rglob("*")):
        rel = path.relative_to(run.path)
        if path.is_file() and rel.parts[0] not in SKIP and not rel.name.startswith("."):
            files[rel.as_posix()] = path
    return files


def kept_data_files(project: Project, run: Run, scratch: Path) -> dict[str, Path]:
    """store.keep_data: the data the run was trained on, as store keys -> local files. A single file
    keeps its name (data/train.csv); a directory, glob or object prefix keeps its parts' names
    (data/train/date=2026-11-30/part-0.parquet); objects are first read into ``scratch``, exactly
    the versions training read (run's data.json)."""
    from mlci.sources import open_source

    parts = read_json(run.file("data.json")) if run.file("data.json").is_file() else {}
    files: dict[str, Path] = {}
    for role, source in project.data_sources.items():
        single = source.single_file
        if single is not None:
            files[f"data/{role}{single.suffix}"] = single
            continue
        if not source.remote:
            files.update({f"data/{role}/{p.name}": Path(p.location) for p in source.parts()})
            continue
        pinned = open_source(source.spec, None, source.what, parts.get(role))
        for part in pinned.parts():
            dest = scratch / role / part.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with pinned.open(part) as fh, open(dest, "wb") as out:
                shutil.copyfileobj(fh, out, 8 << 20)
            files[f"data/{role}/{part.name}"] = dest
    return files


def publish(project: Project, run: Run, force: bool = False, actor: str | None = None,
            on_bytes: Callable[..., None] | None = None) -> dict[str, Any]:
    """Upload the run and register a version. ``on_bytes(0, total=N)`` once the size is known,
    then ``on_bytes(n)`` as bytes are sent (blobs already in the store count as sent)."""
    cfg = project.config
    started = time.time()
    evaluation_path = run.file("evaluation.json")
    if not evaluation_path.is_file():
        raise NotFoundError(f"{run.path}: not evaluated yet; run `mlci evaluate` first")
    evaluation = read_json(evaluation_path)
    info = run.info()
    store = project.open_store()
    registry = Registry(store, cfg.name)
    eval_stage = run.stage("evaluate") or {}
    fingerprint = fp.digest({"evaluate": eval_stage.get("fingerprint"), "store": store.uri,
                             "keep_data": cfg.store.keep_data})
    done = run.up_to_date("publish", fingerprint)
    if done and not force and registry.find_fingerprint(info["fingerprint"]) is not None:
        return {"name": cfg.name, **done["summary"], "status": "up to date"}

    existing = registry.find_fingerprint(info["fingerprint"])
    if existing is not None:
        summary = {"version": existing["version"], "store": store.uri, "uploaded": 0,
                   "blessed": existing.get("blessed")}
        write_json(run.file("publish.json"), summary)
        run.record("publish", fingerprint, 0, started, summary)
        return {"name": cfg.name, **summary, "status": "already registered"}

    files = run_files(run)
    kept = tempfile.TemporaryDirectory(prefix="mlci-keep-data-") if cfg.store.keep_data else None
    if kept is not None:
        files.update(kept_data_files(project, run, Path(kept.name)))
    meta = {"name": cfg.name, "fingerprint": info["fingerprint"]}
    store.check_conditional_writes()  # an endpoint that ignores them would hand out v1 twice
    if on_bytes:
        on_bytes(0, total=sum(path.stat().st_size for path in files.values()))
    store_run = _store_run_id(store, run.run_id, cfg.name)
    try:
        manifest = store.publish_run(store_run, files, meta, on_bytes=on_bytes, hold_lease=True,
                                     hashes=project.hashes)
    except IntegrityError:
        if _store_run_id(store, run.run_id, cfg.name) == store_run:
            raise
        # another model published the same run id a moment before us: use our own
        store_run = _store_run_id(store, run.run_id, cfg.name)
        manifest = store.publish_run(store_run, files, meta, on_bytes=on_bytes, hold_lease=True,
                                     hashes=project.hashes)

    validation = None
    if run.file("validation.json").is_file():
        v = read_json(run.file("validation.json"))
        validation = {k: v.get(k) for k in ("passed", "errors", "warnings", "summary") if k in v}
    record = {
        "run_id": run.run_id, **({"store_run": store_run} if store_run != run.run_id else {}),
        "fingerprint": info["fingerprint"], "task": cfg.task,
        "estimator": info.get("estimator"), "blessed": evaluation["blessed"],
        "metrics": evaluation["metrics"], "gates": evaluation["gates"],
        "baseline": evaluation.get("baseline"), "validation": validation,
        "files": {"count": len(manifest["files"]),
                  "bytes": sum(e["size"] for e in manifest["files"].values())},
        "lineage": {"data": info["data"], "code": info["code"], "split": info.get("split"),
                    "config": info["config"], "versions": info["versions"],
                    "params": info.get("params"), "keep_data": cfg.store.keep_data},
    }
    try:
        version, created = registry.register(json.loads(json.dumps(record, default=str)), actor=actor)
        crashpoints.step("publish:registered")
    finally:
        store.release_lease(manifest["lease"])
        if kept is not None:
            kept.cleanup()
    summary = {"version": version["version"], "store": store.uri, "uploaded": manifest["uploaded"],
               "files": len(manifest["files"]), "blessed": version.get("blessed")}
    write_json(run.file("publish.json"), summary)
    run.record("publish", fingerprint, 0, started, summary)
    return {"name": cfg.name, **summary, "status": "registered" if created else "already registered"}


def _store_run_id(store: Any, run_id: str, name: str) -> str:
    """Where this model publishes the run: ``runs/<run id>/``, unless another model already
    published that run id (two models trained on the same data and config get the same run id
    from the training fingerprint); then ``runs/<run id>.<name>/``, this model's own."""
    try:
        existing = store.get_json(f"runs/{run_id}/manifest.json")
    except KeyError:
        return run_id
    except IntegrityError:
        return f"{run_id}.{name}"
    if isinstance(existing, dict) and existing.get("name") not in (None, name):
        return f"{run_id}.{name}"
    return run_id
