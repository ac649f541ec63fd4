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

import json
import os
import threading
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from mlci.errors import IntegrityError, NotFoundError
from mlci.util import dumps, sha256_file

T = TypeVar("T")



class KeyMissing(KeyError):
    """The key does not exist in the store."""


def blob_key(sha: str) -> str:
    return f"blobs/sha256/{sha[:2]}/{sha[2:]}"


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, size in bytes and last-modified time (epoch seconds)."""

    key: str
    size: int
    mtime: float
    upload_id: str | None = None  # S3: an unfinished multipart upload


def parallel(fn: Callable[[Any], T], items: Iterable[Any], workers: int) -> list[T]:
    """``[fn(x) for x in items]`` on a thread pool; the first error cancels what has not started."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="mlci-store") as pool:
        futures: list[Future[T]] = [pool.submit(fn, x) for x in items]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in done:
            if f.exception() is not None:
                for p in pending:
                    p.cancel()
                raise f.exception()  # type: ignore[misc]
        return [f.result() for f in futures]


class Store(ABC):
    uri: str
    #: files uploaded/downloaded at once by publish_run/download_run (MLCI_STORE_WORKERS overrides)
    workers: int = 4

    def _workers(self) -> int:
        return max(1, int(os.environ.get("MLCI_STORE_WORKERS") or self.workers))

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
    def put_file(self, key: str, path: Path, callback: Callable[[int], None] | None = None) -> None:
        """Upload a file (large files stream); ``callback(nbytes)`` reports progress."""

    @abstractmethod
    def get_file(self, key: str, dest: Path, size: int | None = None,
                 callback: Callable[[int], None] | None = None) -> None:
        """Download to ``dest`` (written atomically). KeyMissing when absent.

        ``size`` (when the caller knows it) lets a backend pick a single request for small objects.
        """

    @abstractmethod
    def list_info(self, prefix: str) -> list[ObjectInfo]:
        """Like list(), with sizes and modification times (used by gc)."""

    # --- shared on top of the primitives ------------------------------------------------
    def get_json(self, key: str) -> Any:
        data = self.get_bytes(key)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise IntegrityError(f"{self.uri}/{key}: not valid JSON ({exc})") from None

    def put_json(self, key: str, obj: Any) -> None:
        self.put_bytes(key, dumps(obj))

    def known_blobs(self, shas: list[str]) -> set[str] | None:
        """Which of these blobs the store has, if a backend can tell cheaply in bulk; None: ask
        one by one (exists)."""
        return None

    def put_blob(self, path: Path, sha: str | None = None,
                 callback: Callable[[int], None] | None = None,
                 exists: bool | None = None) -> tuple[str, bool]:
        """Store a file by content; returns (sha256, uploaded). Existing blobs are not re-sent.

        ``exists`` (when the caller already knows) saves the existence check."""
        sha = sha or sha256_file(path)
        key = blob_key(sha)
        if exists if exists is not None else self.exists(key):
            if callback:
                callback(path.stat().st_size)
            return sha, False
        if callback is not None:
            self.put_file(key, path, callback=callback)
        else:
            self.put_file(key, path)
        return sha, True

    def get_blob(self, sha: str, dest: Path, size: int | None = None,
                 callback: Callable[[int], None] | None = None) -> None:
        """Download a blob and verify its sha256 before anyone uses it.

        A blob that does not match is removed from ``dest`` and refused (IntegrityError).
        """
        try:
            extra = {k: v for k, v in (("size", size), ("callback", callback)) if v is not None}
            self.get_file(blob_key(sha), dest, **extra)
        except KeyMissing:
            raise NotFoundError(f"{self.uri}: blob {sha[:12]} is missing from the store") from None
        actual = sha256_file(dest)
        if actual != sha:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"{self.uri}: blob {sha[:12]} is corrupt (sha256 {actual[:12]})")

    def publish_run(self, run_id: str, files: dict[str, Path], meta: dict[str, Any] | None = None,
                    progress: Any = None, on_bytes: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Upload a run's files as blobs, then write its manifest last.

        Files are hashed and uploaded in parallel (``workers`` at a time); a blob already in
        the store is not sent again. A crash before the manifest leaves only unreferenced
        blobs: no visible run, and the next publish re-uses whatever blobs already arrived.
        The manifest is one atomic write; a run, once published, is immutable (publishing
        the same run id with different files is refused).

        ``progress(rel, size)`` is called once per finished file; ``on_bytes(n)`` as bytes go.
        """
        def digest(item: tuple[str, Path]) -> tuple[str, Path, str, int]:
            rel, path = item
            return rel, path, sha256_file(path), path.stat().st_size

        hashed = parallel(digest, sorted(files.items()), self._workers())
        by_sha: dict[str, list[tuple[str, Path, int]]] = {}
        for rel, path, sha, size in hashed:  # the same content twice in one run is sent once
            by_sha.setdefault(sha, []).append((rel, path, size))
        known = self.known_blobs(list(by_sha))
        lock = threading.Lock()

        def upload(sha: str) -> tuple[str, bool]:
            rel, path, size = by_sha[sha][0]
            _, sent = self.put_blob(path, sha, callback=on_bytes,
                                    exists=None if known is None else sha in known)
            for _rel, _, _size in by_sha[sha][1:]:
                if on_bytes:
                    on_bytes(_size)
            if progress is not None:
                with lock:
                    for _rel, _, _size in by_sha[sha]:
                        progress(_rel, _size)
            return sha, sent

        sent_shas = {sha for sha, sent in parallel(upload, list(by_sha), self._workers()) if sent}
        entries = {rel: {"sha256": sha, "size": size} for rel, _, sha, size in hashed}
        uploaded = len(sent_shas)
        manifest = {"run_id": run_id, "files": entries, **(meta or {})}
        key = manifest_key(run_id)
        if not self.put_if_absent(key, dumps(manifest)):
            existing = self.get_json(key)
            if existing.get("files") != entries:
                raise IntegrityError(f"{self.uri}: run {run_id} is already published with other files; "
                                     "a published run is never changed (use a new run id)")
            self.put_json(key, manifest)  # same files: refresh the metadata
        manifest["uploaded"] = uploaded
        manifest["uploaded_bytes"] = sum(by_sha[sha][0][2] for sha in sent_shas)
        return manifest

    def get_manifest(self, run_id: str) -> dict[str, Any]:
        try:
            return self.get_json(manifest_key(run_id))
        except KeyMissing:
            raise NotFoundError(f"{self.uri}: run {run_id} has no manifest (never published)") from None

    def download_run(self, run_id: str, dest: Path, only: Iterable[str] | None = None,
                     on_bytes: Callable[[int], None] | None = None) -> dict[str, Path]:
        """Download (and verify) a published run's files under ``dest``, in parallel."""
        manifest = self.get_manifest(run_id)
        wanted = set(only) if only is not None else None
        todo = []
        for rel, entry in sorted(manifest["files"].items()):
            if wanted is not None and not any(rel == w or rel.startswith(w.rstrip("/") + "/") for w in wanted):
                continue
            if rel.startswith("/") or ".." in rel.split("/"):
                raise IntegrityError(f"{self.uri}: run {run_id} manifest has an unsafe path {rel!r}")
            todo.append((rel, entry))

        def one(item: tuple[str, dict[str, Any]]) -> tuple[str, Path]:
            rel, entry = item
            target = dest / rel
            if target.exists() and sha256_file(target) == entry["sha256"]:
                if on_bytes:
                    on_bytes(entry.get("size", 0))
                return rel, target
            target.parent.mkdir(parents=True, exist_ok=True)
            self.get_blob(entry["sha256"], target, size=entry.get("size"), callback=on_bytes)
            return rel, target

        return dict(parallel(one, todo, self._workers()))


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


