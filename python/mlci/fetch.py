"""Fetching a registered model version out of the store into a directory, verified.

Files are downloaded into a temporary sibling directory and verified (each blob's sha256,
then the model directory's own checksums) before the directory is moved into place, so
``DIR`` holds either the previous model or the complete new one, never a mixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from mlci.errors import NotFoundError, UsageError
from mlci.registry import Registry, store_run_id


def fetch(registry: Registry, ref: str, dest: Path, everything: bool = False,
          on_bytes: Callable[..., None] | None = None) -> dict[str, Any]:
    record = registry.resolve(ref)
    version = record["version"]
    if record.get("collected"):
        raise NotFoundError(f"{registry.name} v{version} was garbage-collected on "
                            f"{record['collected'].get('time')} (its files are gone)")
    store = registry.store
    manifest = store.get_manifest(store_run_id(record))
    prefix = "" if everything else "model/"
    wanted = {rel: e for rel, e in manifest["files"].items() if rel.startswith(prefix)}
    if not wanted:
        raise NotFoundError(f"{registry.name} v{version}: run {record['run_id']} has no model/ files")
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not _is_fetched(dest))):
        raise UsageError(f"-o {dest}: exists and is not an empty directory or an earlier fetch; "
                         "choose another directory")
    if on_bytes:
        on_bytes(0, total=sum(e["size"] for e in wanted.values()))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.fetch-"))
    try:
        got = store.download_run(store_run_id(record), tmp, only=[prefix] if prefix else None,
                                 on_bytes=on_bytes)
        if not everything:  # model/x -> DIR/x
            for rel in got:
                target = tmp / rel.removeprefix("model/")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / rel, target)
            shutil.rmtree(tmp / "model", ignore_errors=True)
        from mlci.model import verify

        verify(tmp if not everything else tmp / "model")
        _replace_dir(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"name": registry.name, "version": version, "run_id": record["run_id"],
            "dir": str(dest), "files": len(wanted), "bytes": sum(e["size"] for e in wanted.values()),
            "store": store.uri, "blessed": record.get("blessed")}


def _is_fetched(path: Path) -> bool:
    from mlci.model import META_FILE

    return (path / META_FILE).is_file() or (path / "model" / META_FILE).is_file()


def _replace_dir(new: Path, dest: Path) -> None:
    if not dest.exists():
        os.replace(new, dest)
        return
    old = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
    os.replace(dest, old / "d")
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)
