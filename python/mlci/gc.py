"""Garbage collection of the store: drop old model versions' files, keep what is in use.

What stays, always:
  - the newest ``keep`` versions of every model;
  - every alias target, and each alias's rollback target (the last entry of its history);
  - every blob that a kept version's run manifest lists (blobs are shared across models);
  - runs that no version references yet and orphan blobs younger than ``grace`` seconds
    (a publish in progress writes blobs, then the manifest, then the version).

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

from mlci.registry import Registry, default_actor, list_models, now
from mlci.store.base import KeyMissing, ObjectInfo, Store, blob_key, dumps, manifest_key, parallel

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
        manifest = store.get_json(manifest_key(run_id))
    except KeyMissing:
        return None
    return {e["sha256"] for e in manifest.get("files", {}).values()}


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
            run_id = record.get("run_id")
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
    manifests = {i.key.split("/")[1]: i for i in store.list_info("runs/") if i.key.endswith("/manifest.json")}
    run_ids = sorted(manifests)
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
        elif run_id in kept_runs or manifests[run_id].mtime >= cutoff:
            live |= shas  # kept, or young: a publish that has not registered yet
            p.live_runs.add(run_id)
        else:  # published but never registered, long ago: a crash between manifest and version
            p.manifests.append(run_id)
            doomed |= shas
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
        p.uploads = [u for u in lister() if u.mtime < cutoff]
    return p


def collect(store: Store, p: Plan, actor: str | None = None) -> dict[str, Any]:
    """Carry out a plan. Versions are marked first, then manifests go, then blobs."""
    actor = actor or default_actor()
    for name, numbers in p.dropped.items():
        reg = Registry(store, name)
        for n in numbers:
            key = f"models/{name}/versions/{n}.json"
            for _ in range(20):
                raw, token = store.get_versioned(key)
                record = json.loads(raw)
                record["collected"] = {"time": now(), "actor": actor}
                if store.put_if_match(key, dumps(record), token):
                    break
            reg.event("gc", version=n, actor=actor, run_id=record.get("run_id"),
                      reason=f"not among the newest {p.keep} versions and no alias points to it")
    for run_id in p.manifests:
        store.delete(manifest_key(run_id))
    # A publish that started after the plan may reuse a blob we are about to delete: look at
    # the manifests once more and spare any blob a manifest we did not plan for lists.
    seen = p.live_runs | set(p.manifests)
    spare: set[str] = set()
    for key in store.list("runs/"):
        run_id = key.split("/")[1]
        if key.endswith("/manifest.json") and run_id not in seen:
            spare |= _manifest_shas(store, run_id) or set()
    blobs = [b for b in p.blobs if b.key not in {blob_key(s) for s in spare}]
    parallel(lambda b: store.delete(b.key), blobs, store._workers())
    aborter = getattr(store, "abort_upload", None)
    for upload in p.uploads:
        if aborter is not None:
            aborter(upload)
    return {**p.to_json(), "blobs_deleted": len(blobs), "bytes_freed": sum(b.size for b in blobs)}
