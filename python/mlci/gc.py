"""Garbage collection of the store: drop old model versions' files, keep what is in use.

What stays, always:
  - the newest ``keep`` versions of every model;
  - every alias target, and each alias's rollback target (the last entry of its history);
  - every blob that a kept version's run manifest lists (blobs are shared across models);
  - runs that no version references yet and orphan blobs younger than ``grace`` seconds
    (a publish in progress writes blobs, then the manifest, then the version);
  - every blob and run a publish lease lists (``leases/publish/``, younger than 24 h): a publish
    in progress writes its lease before it decides which blobs it can reuse.

How gc and a concurrent publish or promote stay out of each other's way (no lock server):
  - gc writes its mark (``leases/gc/<id>.json``) before it re-reads the publish leases and
    deletes; a publish writes its lease before it looks for gc marks, and waits while there is
    one. Whatever the interleaving, gc sees the lease or the publish sees the mark.
  - gc marks a version ``collected``, then re-reads the aliases and un-marks any version an
    alias (or its rollback target) now points to; promote/rollback move the alias, then re-read
    the version and undo the move if it was collected. One of the two sees the other.

What goes:
  - the run manifests of dropped versions, and blobs that only dropped versions list;
  - orphan blobs (no manifest lists them) older than ``grace``: a crashed publish's leftovers;
  - unregistered run manifests older than ``grace``;
  - unfinished uploads (S3 multipart uploads, LocalStore temp files) older than ``grace``.

A dropped version's registry record stays (the audit trail is never rewritten), marked with
``collected``; fetching it then says so. Every drop is recorded as a ``gc`` audit event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from mlci import crashpoints
from mlci.errors import InfraError, NotFoundError
from mlci.registry import Registry, default_actor, list_models, now, store_run_id
from mlci.store.base import (GC_MARK_SECONDS, PUBLISH_LEASE_SECONDS, ObjectInfo, Store, blob_key,
                             dumps, manifest_key, parallel)

DAY = 24 * 3600


@dataclass
class Plan:
    keep: int
    grace: float
    kept: dict[str, list[int]] = field(default_factory=dict)
    dropped: dict[str, list[int]] = field(default_factory=dict)
    manifests: list[str] = field(default_factory=list)           # run ids whose manifests go
    blobs: list[ObjectInfo] = field(default_factory=list)        # blobs that go
    uploads: list[ObjectInfo] = field(default_factory=list)      # unfinished uploads that go
    reasons: dict[str, str] = field(default_factory=dict)        # blob key -> why it goes
    live_runs: set[str] = field(default_factory=set)
    run_of: dict[tuple[str, int], str] = field(default_factory=dict)  # (model, version) -> run id
    stale_leases: list[str] = field(default_factory=list)        # publish leases of dead publishes

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs)

    def to_json(self) -> dict[str, Any]:
        return {
            "keep": self.keep, "grace_seconds": self.grace,
            "kept_versions": self.kept, "dropped_versions": self.dropped,
            "manifests": self.manifests,
            "blobs": [{"key": b.key, "size": b.size, "reason": self.reasons.get(b.key)} for b in self.blobs],
            "uploads": [{"key": u.key, "started": u.mtime} for u in self.uploads],
            "bytes": self.bytes,
        }


def _manifest_shas(store: Store, run_id: str) -> set[str] | None:
    try:
        manifest = store.get_manifest(run_id)
    except NotFoundError:
        return None
    return {e["sha256"] for e in manifest["files"].values()}


def _run_id_of(key: str) -> str | None:
    """``runs/<id>/manifest.json`` -> id."""
    if key.startswith("runs/") and key.endswith("/manifest.json"):
        return key[len("runs/"):-len("/manifest.json")]
    return None


def _leased(store: Store) -> tuple[set[str], set[str]]:
    """(blob shas, run ids) that publishes in progress rely on."""
    shas: set[str] = set()
    runs: set[str] = set()
    for _, body in store.active_leases("publish", PUBLISH_LEASE_SECONDS):
        shas.update(x for x in body.get("shas", []) if isinstance(x, str))
        if isinstance(body.get("run_id"), str):
            runs.add(body["run_id"])
    return shas, runs


def plan(store: Store, keep: int = 5, grace: float = DAY, models: list[str] | None = None) -> Plan:
    """Work out what gc would delete; deletes nothing."""
    if keep < 1:
        from mlci.errors import UsageError

        raise UsageError(f"--keep {keep}: keep at least 1 version per model")
    p = Plan(keep=keep, grace=grace)
    cutoff = time.time() - grace
    kept_runs: set[str] = set()
    dropped_runs: set[str] = set()  # runs of versions dropped now or collected before
    for name in list_models(store):
        reg = Registry(store, name)
        numbers = reg.version_numbers()
        protected = set(numbers[-keep:])
        if models is not None and name not in models:
            protected = set(numbers)  # not ours to collect, but its files stay live
        for alias in store.list(f"models/{name}/aliases/"):
            rec = reg.alias(alias.rsplit("/", 1)[-1].removesuffix(".json"))
            if rec:
                protected.add(rec["version"])
                protected.update(rec.get("history", [])[-1:])
        for n in numbers:
            record = reg.get(n)
            run_id = store_run_id(record) if record.get("run_id") else None
            if run_id:
                p.run_of[(name, n)] = run_id
            if n in protected:
                p.kept.setdefault(name, []).append(n)
                if run_id:
                    kept_runs.add(run_id)
            else:
                if not record.get("collected"):
                    p.dropped.setdefault(name, []).append(n)
                if run_id:
                    dropped_runs.add(run_id)
    dropped_runs -= kept_runs  # a run shared with a kept version stays

    # every run manifest in the store: registered, dropped, or not registered (yet)
    manifests = {_run_id_of(i.key): i for i in store.list_info("runs/") if _run_id_of(i.key)}
    run_ids = sorted(manifests)  # type: ignore[arg-type]
    leased_shas, leased_runs = _leased(store)
    shas_of = dict(zip(run_ids, parallel(lambda r: _manifest_shas(store, r), run_ids, store._workers())))
    live: set[str] = set()
    doomed: set[str] = set()
    for run_id in run_ids:
        shas = shas_of[run_id]
        if shas is None:  # deleted meanwhile
            continue
        if run_id in dropped_runs:
            p.manifests.append(run_id)
            doomed |= shas
        elif run_id in kept_runs or run_id in leased_runs or manifests[run_id].mtime >= cutoff:
            live |= shas  # kept, or young: a publish that has not registered yet
            p.live_runs.add(run_id)
        else:  # published but never registered, long ago: a crash between manifest and version
            p.manifests.append(run_id)
            doomed |= shas
    live |= leased_shas
    for info in store.list_info("blobs/"):
        sha = info.key.removeprefix("blobs/sha256/").replace("/", "")
        if sha in live:
            continue
        if sha in doomed:
            p.blobs.append(info)
            p.reasons[info.key] = "only dropped runs list it"  # dropped versions, or never registered
        elif info.mtime < cutoff:
            p.blobs.append(info)
            p.reasons[info.key] = "orphan (no manifest lists it)"
    lister = getattr(store, "list_incomplete_uploads", None)
    if lister is not None:
        p.uploads = [u for u in lister() if u.mtime < cutoff and not u.key.startswith("leases/")]
    lease_cutoff = time.time() - max(grace, PUBLISH_LEASE_SECONDS)
    p.stale_leases = [i.key for i in store.list_info("leases/publish/") if i.mtime < lease_cutoff]
    return p


def collect(store: Store, p: Plan, actor: str | None = None) -> dict[str, Any]:
    """Carry out a plan: mark gc's presence, mark versions collected (and give back any an
    alias took meanwhile), re-read what publishes in progress rely on, then delete manifests and
    blobs, and take the mark away."""
    actor = actor or default_actor()
    mark = store.take_lease("gc", {"actor": actor})
    deadline = time.monotonic() + GC_MARK_SECONDS - 120  # publishes stop honouring the mark then
    try:
        return _collect(store, p, actor, deadline)
    finally:
        store.release_lease(mark)


def _set_collected(store: Store, name: str, n: int, value: dict[str, Any] | None) -> dict[str, Any]:
    key = f"models/{name}/versions/{n}.json"
    for _ in range(50):
        raw, token = store.get_versioned(key)
        record = json.loads(raw)
        if value is None:
            record.pop("collected", None)
        else:
            record["collected"] = value
        if store.put_if_match(key, dumps(record), token):
            return record
    raise InfraError(f"{store.uri}: {key} keeps changing; gc gave up (nothing deleted)")


def _collect(store: Store, p: Plan, actor: str, deadline: float) -> dict[str, Any]:
    crashpoints.step("gc:planned")
    marked: list[tuple[str, int, dict[str, Any]]] = []
    for name, numbers in p.dropped.items():
        for n in numbers:
            marked.append((name, n, _set_collected(store, name, n, {"time": now(), "actor": actor})))
    crashpoints.step("gc:marked")
    # an alias may have moved to a version we just marked (promote, rollback): give it back
    rescued_runs: set[str] = set()
    protected: dict[str, set[int]] = {}
    for name in {m[0] for m in marked}:
        reg = Registry(store, name)
        protected[name] = set()
        for alias in reg.aliases():
            rec = reg.alias(alias) or {}
            protected[name].add(rec.get("version"))
            protected[name].update(rec.get("history", [])[-1:])
    for name, n, record in marked:
        if n in protected[name]:
            _set_collected(store, name, n, None)
            p.dropped[name].remove(n)
            if not p.dropped[name]:
                del p.dropped[name]
            if p.run_of.get((name, n)):
                rescued_runs.add(p.run_of[(name, n)])
            continue
        Registry(store, name).event("gc", version=n, actor=actor, run_id=record.get("run_id"),
                                    reason=f"not among the newest {p.keep} versions and no alias points to it")
    # A publish that started after the plan may reuse a blob we are about to delete: its lease
    # lists it (our mark is written, so a publish that has not written its lease yet waits for
    # us). Spare what leases and manifests we did not plan for list.
    leased_shas, leased_runs = _leased(store)
    spare: set[str] = set(leased_shas)
    seen = p.live_runs | set(p.manifests)
    for key in store.list("runs/"):
        run_id = _run_id_of(key)
        if run_id and (run_id not in seen or run_id in rescued_runs or run_id in leased_runs):
            spare |= _manifest_shas(store, run_id) or set()
    spared = rescued_runs | leased_runs
    manifests = [r for r in p.manifests if r not in spared]

    def delete(key: str) -> None:
        if time.monotonic() > deadline:  # publishes no longer wait for our mark: stop
            raise InfraError(f"{store.uri}: gc ran out of time before it finished; run it again")
        store.delete(key)

    for run_id in manifests:
        delete(manifest_key(run_id))
    spare_keys = {blob_key(s) for s in spare}
    blobs = [b for b in p.blobs if b.key not in spare_keys]
    parallel(lambda b: delete(b.key), blobs, store._workers())
    aborter = getattr(store, "abort_upload", None)
    for upload in p.uploads:
        if aborter is not None:
            aborter(upload)
    for key in p.stale_leases:
        store.delete(key)
    return {**p.to_json(), "manifests": manifests, "blobs_deleted": len(blobs),
            "bytes_freed": sum(b.size for b in blobs)}
