"""The store interface: a small key/value object store plus content-addressed blobs.

Keys are '/'-separated strings. Backends implement the primitives; blob and manifest
handling is shared. The registry (mlci.registry) is data kept in the same store.

Layout:
  blobs/sha256/<2>/<rest>            content-addressed files (never uploaded twice)
  runs/<run-id>/manifest.json        the files of a published run, written last
  models/<name>/versions/<n>.json    registry records (conditional create)
  models/<name>/aliases/<alias>.json alias records (compare-and-swap)
  models/<name>/events/<time>-<id>.json  the audit log, one object per event
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Iterable

from mlci.errors import IntegrityError, NotFoundError

CHUNK = 1 << 20


class KeyMissing(KeyError):
    """The key does not exist in the store."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_key(sha: str) -> str:
    return f"blobs/sha256/{sha[:2]}/{sha[2:]}"


class Store(ABC):
    uri: str

    # --- primitives each backend implements -------------------------------------------
    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Raise KeyMissing when absent."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never a part."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; False if it did (nothing written)."""

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str]:
        """The object and an opaque version token for put_if_match. KeyMissing when absent."""

    @abstractmethod
    def put_if_match(self, key: str, data: bytes, token: str | None) -> bool:
        """Replace ``key`` only if its version is still ``token`` (None: only if absent)."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys under ``prefix``, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Upload a file (large files stream)."""

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> None:
        """Download to ``dest`` (written atomically). KeyMissing when absent."""

    # --- shared on top of the primitives ------------------------------------------------
    def get_json(self, key: str) -> Any:
        data = self.get_bytes(key)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise IntegrityError(f"{self.uri}/{key}: not valid JSON ({exc})") from None

    def put_json(self, key: str, obj: Any) -> None:
        self.put_bytes(key, dumps(obj))

    def put_blob(self, path: Path, sha: str | None = None) -> tuple[str, bool]:
        """Store a file by content; returns (sha256, uploaded). Existing blobs are not re-sent."""
        sha = sha or sha256_file(path)
        key = blob_key(sha)
        if self.exists(key):
            return sha, False
        self.put_file(key, path)
        return sha, True

    def get_blob(self, sha: str, dest: Path) -> None:
        """Download a blob and verify its sha256 before anyone uses it."""
        try:
            self.get_file(blob_key(sha), dest)
        except KeyMissing:
            raise NotFoundError(f"{self.uri}: blob {sha[:12]} is missing from the store") from None
        actual = sha256_file(dest)
        if actual != sha:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"{self.uri}: blob {sha[:12]} is corrupt (sha256 {actual[:12]})")

    def publish_run(self, run_id: str, files: dict[str, Path], meta: dict[str, Any] | None = None,
                    progress: Any = None) -> dict[str, Any]:
        """Upload a run's files as blobs, then write its manifest last.

        A crash before the manifest leaves only unreferenced blobs: no visible run, and the
        next publish re-uses whatever blobs already arrived.
        """
        entries: dict[str, dict[str, Any]] = {}
        uploaded = 0
        for rel, path in sorted(files.items()):
            sha = sha256_file(path)
            _, sent = self.put_blob(path, sha)
            uploaded += int(sent)
            entries[rel] = {"sha256": sha, "size": path.stat().st_size}
            if progress is not None:
                progress(rel, path.stat().st_size)
        manifest = {"run_id": run_id, "files": entries, **(meta or {})}
        self.put_json(manifest_key(run_id), manifest)
        manifest["uploaded"] = uploaded
        return manifest

    def get_manifest(self, run_id: str) -> dict[str, Any]:
        try:
            return self.get_json(manifest_key(run_id))
        except KeyMissing:
            raise NotFoundError(f"{self.uri}: run {run_id} has no manifest (never published)") from None

    def download_run(self, run_id: str, dest: Path, only: Iterable[str] | None = None) -> dict[str, Path]:
        """Download (and verify) a published run's files under ``dest``."""
        manifest = self.get_manifest(run_id)
        wanted = set(only) if only is not None else None
        out: dict[str, Path] = {}
        for rel, entry in manifest["files"].items():
            if wanted is not None and not any(rel == w or rel.startswith(w.rstrip("/") + "/") for w in wanted):
                continue
            target = dest / rel
            if target.exists() and sha256_file(target) == entry["sha256"]:
                out[rel] = target
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            self.get_blob(entry["sha256"], target)
            out[rel] = target
        return out


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
