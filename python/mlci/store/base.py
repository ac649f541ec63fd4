"""The store interface: a small key/value object store plus content-addressed blobs.

Keys are '/'-separated strings. Backends implement the primitives; blob and manifest
handling is shared. The registry (mlci.registry) is data kept in the same store.

Layout:
  blobs/sha256/<2>/<rest>            content-addressed files (never uploaded twice)
  runs/<run-id>/manifest.json        the files of a published run, written last
  models/<name>/versions/<n>.json    registry records (conditional create)
  models/<name>/aliases/<alias>.json alias records (compare-and-swap)
  models/<name>/events/<time>-<id>.json  the audit log, one object per event
  leases/publish/<id>.json           a publish in progress: the blobs it relies on (gc spares them)
  leases/gc/<id>.json                gc is deleting blobs: publishes wait until it is gone
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from mlci import crashpoints
from mlci.errors import FileChanged, InfraError, IntegrityError, NotFoundError
from mlci.util import CHUNK, HashCache, dumps, sha256_file

T = TypeVar("T")
log = logging.getLogger(__name__)

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA = re.compile(r"[0-9a-f]{64}")
#: a publish lease protects the blobs its publish relies on for this long (from its mtime)
PUBLISH_LEASE_SECONDS = 24 * 3600.0
#: a gc mark holds publishes back for at most this long; gc stops deleting well before it ends
GC_MARK_SECONDS = 900.0


class KeyMissing(KeyError):
    """The key does not exist in the store."""


def writer_gone(body: dict[str, Any]) -> bool:
    """True when the process that wrote a claim, lease or mark is known to be dead: it ran on
    this host and no process has its pid any more. (On another host we cannot tell.)"""
    import socket

    pid = body.get("pid")
    if body.get("host") != socket.gethostname() or not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def check_run_id(run_id: Any) -> str:
    """A run id as the store uses it in keys; anything else (``..``, '/', not a string) is refused."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise IntegrityError(f"run id {str(run_id)[:80]!r} is not a valid run id (letters, digits, '.', "
                             "'_', '-'); the registry record or manifest naming it is corrupt")
    return run_id


def check_sha(sha: Any) -> str:
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise IntegrityError(f"blob sha256 {str(sha)[:80]!r} is not 64 hex digits; "
                             "the manifest naming it is corrupt")
    return sha


def blob_key(sha: str) -> str:
    check_sha(sha)
    return f"blobs/sha256/{sha[:2]}/{sha[2:]}"


def blob_sha(key: str) -> str | None:
    """The sha256 that a key made by blob_key names; None for any other key."""
    head, _, rest = key.removeprefix("blobs/sha256/").partition("/")
    sha = head + rest
    return sha if key.startswith("blobs/sha256/") and len(head) == 2 and _SHA.fullmatch(sha) else None


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
    def check_conditional_writes(self) -> None:
        """Raise InfraError if the backend only pretends to honour put_if_absent/put_if_match."""

    def take_lease(self, kind: str, body: dict[str, Any]) -> str:
        """Write ``leases/<kind>/<id>.json``; returns its key (release it with release_lease)."""
        key = f"leases/{kind}/{uuid.uuid4().hex}.json"
        import socket

        self.put_bytes(key, dumps({**body, "kind": kind, "host": socket.gethostname(), "pid": os.getpid(),
                                   "time": time.time()}))
        return key

    def release_lease(self, key: str) -> None:
        self.delete(key)

    def active_leases(self, kind: str, seconds: float) -> list[tuple[ObjectInfo, dict[str, Any]]]:
        """Leases of ``kind`` written less than ``seconds`` ago (by the store's clock), with bodies."""
        cutoff = time.time() - seconds
        out = []
        for info in self.list_info(f"leases/{kind}/"):
            if info.mtime < cutoff:
                continue
            try:
                body = self.get_json(info.key)
            except (KeyMissing, IntegrityError):  # released meanwhile, or half-written by a crash
                continue
            if isinstance(body, dict):
                out.append((info, body))
        return out

    def wait_for_gc(self) -> None:
        """Wait while a `mlci gc` is deleting blobs (its mark is in the store).

        A publish calls this after writing its own lease: gc writes its mark before it reads
        the leases, so either gc sees this publish's lease and spares its blobs, or this sees
        gc's mark and checks which blobs exist only after gc has finished deleting.
        """
        limit = float(os.environ.get("MLCI_GC_WAIT") or GC_MARK_SECONDS)
        deadline = time.monotonic() + limit
        told = False
        while marks := [m for m in self.active_leases("gc", GC_MARK_SECONDS) if not writer_gone(m[1])]:
            if time.monotonic() > deadline:
                raise InfraError(f"{self.uri}: `mlci gc` has been deleting blobs for more than {limit:.0f} s "
                                 f"(mark {marks[0][0].key}); try again when it has finished")
            if not told:
                log.warning("%s: waiting for `mlci gc` to finish deleting blobs", self.uri)
                told = True
            time.sleep(0.2)

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
                    progress: Any = None, on_bytes: Callable[[int], None] | None = None,
                    hold_lease: bool = False, hashes: HashCache | None = None) -> dict[str, Any]:
        """Upload a run's files as blobs, then write its manifest last.

        Files are hashed and uploaded in parallel (``workers`` at a time); a blob already in
        the store is not sent again. With ``hashes`` (the workspace's cache), a file whose size
        and mtime are unchanged since it was last hashed is not read again. A crash before the
        manifest leaves only unreferenced blobs: no visible run, and the next publish re-uses
        whatever blobs already arrived. The manifest is one atomic write; a run, once published,
        is immutable (publishing the same run id with different files is refused).

        ``progress(rel, size)`` is called once per finished file; ``on_bytes(n)`` as bytes go.

        Before it looks at which blobs the store has, it writes a publish lease listing every
        blob the run needs, so a concurrent `mlci gc` never deletes a blob this publish decided
        to reuse. The lease is released at the end, or, with ``hold_lease``, kept (its key is
        ``manifest["lease"]``) until the caller has registered the run.
        """
        key = manifest_key(run_id)

        def digest(item: tuple[str, Path]) -> tuple[str, Path, str, int]:
            rel, path = item
            return rel, path, hashes.sha256(path) if hashes else sha256_file(path), path.stat().st_size

        # A file the cache knows costs a stat, and a small one a read of a few KB: threads would
        # only add their own overhead (16 threads double the time of hashing 500 files of 20 KB).
        looked = [(rel, path, *(hashes.lookup(path) if hashes else (None, path.stat().st_size)))
                  for rel, path in files.items()]
        hashed = sorted([(rel, path, sha, size) for rel, path, sha, size in looked if sha]
                        + [digest((rel, path)) for rel, path, sha, size in looked if not sha and size < CHUNK]
                        + parallel(digest, [(rel, path) for rel, path, sha, size in looked
                                            if not sha and size >= CHUNK], self._workers()))
        if hashes:
            hashes.save()
        by_sha: dict[str, list[tuple[str, Path, int]]] = {}
        for rel, path, sha, size in hashed:  # the same content twice in one run is sent once
            by_sha.setdefault(sha, []).append((rel, path, size))
        lease = self.take_lease("publish", {"run_id": run_id, "shas": sorted(by_sha)})
        try:
            manifest = self._publish_leased(run_id, key, hashed, by_sha, meta, progress, on_bytes)
        except BaseException as exc:
            self.release_lease(lease)
            if hashes and isinstance(exc, FileChanged):  # its remembered hash is stale: read it next time
                hashes.forget(exc.path)
                hashes.save()
            raise
        if hold_lease:
            manifest["lease"] = lease
        else:
            self.release_lease(lease)
        return manifest

    def _publish_leased(self, run_id: str, key: str, hashed: list[tuple[str, Path, str, int]],
                        by_sha: dict[str, list[tuple[str, Path, int]]], meta: dict[str, Any] | None,
                        progress: Any, on_bytes: Callable[[int], None] | None) -> dict[str, Any]:
        crashpoints.step("publish:lease")
        self.wait_for_gc()
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

        present = known or set()  # nothing to send or ask for these: no threads
        done = ([upload(sha) for sha in by_sha if sha in present]
                + parallel(upload, [sha for sha in by_sha if sha not in present], self._workers()))
        sent_shas = {sha for sha, sent in done if sent}
        crashpoints.step("publish:blobs")
        entries = {rel: {"sha256": sha, "size": size} for rel, _, sha, size in hashed}
        uploaded = len(sent_shas)
        manifest = {"run_id": run_id, "files": entries, **(meta or {})}
        if not self.put_if_absent(key, dumps(manifest)):
            existing = self.get_json(key)
            if existing.get("files") != entries:
                raise IntegrityError(f"{self.uri}: run {run_id} is already published with other files; "
                                     "a published run is never changed (use a new run id)")
            self.put_json(key, manifest)  # same files: refresh the metadata
        crashpoints.step("publish:manifest")
        manifest["uploaded"] = uploaded
        manifest["uploaded_bytes"] = sum(by_sha[sha][0][2] for sha in sent_shas)
        return manifest

    def get_manifest(self, run_id: str) -> dict[str, Any]:
        try:
            manifest = self.get_json(manifest_key(run_id))
        except KeyMissing:
            raise NotFoundError(f"{self.uri}: run {run_id} has no manifest (never published)") from None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(isinstance(e, dict) and isinstance(e.get("size", 0), int)
                                                   for e in files.values()):
            raise IntegrityError(f"{self.uri}: run {run_id} manifest is not a manifest "
                                 "({files: {path: {sha256, size}}}); fix or restore it by hand")
        for entry in files.values():
            check_sha(entry.get("sha256"))
        return manifest

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
    return f"runs/{check_run_id(run_id)}/manifest.json"


