"""The model registry: versions, aliases and an audit log, kept as data in the store.

  models/<name>/versions/<n>.json          one record per version, created with a
                                           conditional write (never two with one number)
  models/<name>/fingerprints/<fp>.json     claim: a training fingerprint is registered once
  models/<name>/aliases/<alias>.json       {version, history}, moved with compare-and-swap
  models/<name>/events/<time>-<id>.json    append-only audit log (who, when, build, why)
"""

from __future__ import annotations

import getpass
import json
import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from mlci.errors import CheckFailed, IntegrityError, NotFoundError, UsageError
from mlci.store.base import KeyMissing, Store
from mlci.util import dumps, utc_now as now

ALIAS_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def build_info() -> dict[str, Any]:
    """Where an action came from: the Jenkins build when there is one."""
    env = os.environ
    info = {"url": env.get("BUILD_URL"), "job": env.get("JOB_NAME"), "number": env.get("BUILD_NUMBER"),
            "node": env.get("NODE_NAME"), "commit": env.get("GIT_COMMIT")}
    return {k: v for k, v in info.items() if v}


def default_actor() -> str:
    env = os.environ
    for var in ("MLCI_ACTOR", "BUILD_USER_ID"):
        if env.get(var):
            return env[var]
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def check_alias(alias: str) -> str:
    if not alias or not set(alias) <= ALIAS_CHARS or alias[0] in "-." or alias.isdigit() or alias == "latest":
        raise UsageError(f"alias {alias!r}: expected letters, digits, '-', '_' or '.', not a number "
                         "and not 'latest'")
    return alias


class Registry:
    def __init__(self, store: Store, name: str):
        self.store = store
        self.name = name
        self.prefix = f"models/{name}"

    # --- reading ----------------------------------------------------------------------------
    def _json(self, key: str) -> Any:
        try:
            data = self.store.get_bytes(key)
        except KeyMissing:
            raise
        try:
            return json.loads(data)
        except ValueError as exc:
            raise IntegrityError(f"registry record {self.store.uri}/{key} is not valid JSON "
                                 f"({exc}); fix or restore it by hand") from None

    def exists(self) -> bool:
        return bool(self.store.list(f"{self.prefix}/versions/"))

    def version_numbers(self) -> list[int]:
        out = []
        for key in self.store.list(f"{self.prefix}/versions/"):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def get(self, version: int) -> dict[str, Any]:
        try:
            return self._json(f"{self.prefix}/versions/{version}.json")
        except KeyMissing:
            known = self.version_numbers()
            if not known:
                raise NotFoundError(f"model `{self.name}` is not registered in {self.store.uri}") from None
            raise NotFoundError(f"model `{self.name}` has no version {version} "
                                f"(versions: {_ranges(known)})") from None

    def versions(self) -> list[dict[str, Any]]:
        return [self.get(n) for n in self.version_numbers()]

    def alias(self, alias: str) -> dict[str, Any] | None:
        try:
            return self._json(f"{self.prefix}/aliases/{alias}.json")
        except KeyMissing:
            return None

    def aliases(self) -> dict[str, int]:
        out = {}
        for key in self.store.list(f"{self.prefix}/aliases/"):
            name = key.rsplit("/", 1)[-1].removesuffix(".json")
            rec = self.alias(name)
            if rec is not None:
                out[name] = rec["version"]
        return out

    def resolve(self, ref: str | int) -> dict[str, Any]:
        """A version record from '3', 'v3', 'latest' or an alias name."""
        ref = str(ref)
        if ref.lstrip("v").isdigit():
            return self.get(int(ref.lstrip("v")))
        if ref == "latest":
            numbers = self.version_numbers()
            if not numbers:
                raise NotFoundError(f"model `{self.name}` is not registered in {self.store.uri}")
            return self.get(numbers[-1])
        rec = self.alias(ref)
        if rec is None:
            if not self.version_numbers():
                raise NotFoundError(f"model `{self.name}` is not registered in {self.store.uri}")
            known = sorted(self.aliases())
            raise NotFoundError(f"model `{self.name}` has no alias `{ref}` "
                                f"(aliases: {', '.join(known) or 'none'})")
        return self.get(rec["version"])

    def find_fingerprint(self, fingerprint: str) -> dict[str, Any] | None:
        try:
            claim = self._json(f"{self.prefix}/fingerprints/{fingerprint}.json")
        except KeyMissing:
            return None
        if claim.get("version") is not None:
            return self.get(claim["version"])
        return None

    def history(self) -> list[dict[str, Any]]:
        return [self._json(k) for k in self.store.list(f"{self.prefix}/events/")]

    # --- writing ----------------------------------------------------------------------------
    def event(self, event: str, **fields: Any) -> dict[str, Any]:
        rec = {"event": event, "model": self.name, "time": now(), "build": build_info(), **fields}
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{self.prefix}/events/{stamp}-{uuid.uuid4().hex[:8]}.json"
        if not self.store.put_if_absent(key, dumps(rec)):
            raise IntegrityError(f"audit event key collision: {key}")
        return rec

    def register(self, record: dict[str, Any], actor: str | None = None,
                 wait_for_claim_s: float = 30.0) -> tuple[dict[str, Any], bool]:
        """Register a new version; returns (record, created). A fingerprint that is already
        registered returns that version with created=False."""
        fingerprint = record["fingerprint"]
        claim_key = f"{self.prefix}/fingerprints/{fingerprint}.json"
        claimed = self.store.put_if_absent(claim_key, dumps({"fingerprint": fingerprint, "time": now()}))
        if not claimed:
            deadline = time.monotonic() + wait_for_claim_s
            while time.monotonic() < deadline:
                existing = self.find_fingerprint(fingerprint)
                if existing is not None:
                    return existing, False
                time.sleep(0.2)
            # the claimant died before registering: take over
        actor = actor or default_actor()
        numbers = self.version_numbers()
        n = (numbers[-1] if numbers else 0) + 1
        while True:
            full = {**record, "name": self.name, "version": n, "created": now(), "actor": actor,
                    "build": build_info()}
            if self.store.put_if_absent(f"{self.prefix}/versions/{n}.json", dumps(full)):
                break
            n += 1
        self.store.put_bytes(claim_key, dumps({"fingerprint": fingerprint, "version": n, "time": now()}))
        self.event("register", version=n, actor=actor, run_id=record.get("run_id"),
                   fingerprint=fingerprint, metrics=record.get("metrics"), blessed=record.get("blessed"),
                   commit=(record.get("lineage") or {}).get("code", {}).get("git_commit"))
        return full, True

    def set_alias(self, alias: str, version: int, *, actor: str, reason: str | None,
                  event: str = "promote", extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Move ``alias`` to ``version`` with compare-and-swap; audit it."""
        check_alias(alias)
        self.get(version)  # must exist
        key = f"{self.prefix}/aliases/{alias}.json"
        for _ in range(200):
            try:
                raw, token = self.store.get_versioned(key)
                try:
                    current = json.loads(raw)
                except ValueError:
                    raise IntegrityError(f"registry record {self.store.uri}/{key} is not valid JSON; "
                                         "fix or restore it by hand") from None
            except KeyMissing:
                current, token = None, None
            previous = current["version"] if current else None
            history = (current or {}).get("history", [])
            if event == "rollback":
                history = history[:-1]
            elif previous is not None and previous != version:
                history = [*history, previous]
            new = {"alias": alias, "version": version, "history": history, "updated": now(), "actor": actor}
            if self.store.put_if_match(key, dumps(new), token):
                self.event(event, alias=alias, version=version, from_version=previous, actor=actor,
                           reason=reason, **(extra or {}))
                return new
        raise IntegrityError(f"alias {alias}: too much contention, gave up")

    def promote(self, version: int, alias: str, *, actor: str, reason: str | None,
                force: bool = False) -> dict[str, Any]:
        rec = self.get(version)
        if not rec.get("blessed") and not force:
            failed = [g.get("reason", g.get("metric")) for g in rec.get("gates", []) if not g.get("passed")]
            detail = f": {'; '.join(failed)}" if failed else ""
            raise CheckFailed(f"{self.name} v{version} is not blessed{detail} "
                              "(use --force --reason to override; it is recorded)")
        if force and not rec.get("blessed") and not reason:
            raise UsageError("--force on an unblessed version needs --reason")
        return self.set_alias(alias, version, actor=actor, reason=reason,
                              extra={"forced": True} if force and not rec.get("blessed") else None)

    def rollback(self, alias: str, *, actor: str, reason: str | None) -> dict[str, Any]:
        current = self.alias(alias)
        if current is None:
            raise NotFoundError(f"model `{self.name}` has no alias `{alias}`")
        if not current.get("history"):
            raise UsageError(f"{self.name}@{alias} has no previous version to roll back to")
        return self.set_alias(alias, current["history"][-1], actor=actor, reason=reason, event="rollback")


def list_models(store: Store) -> list[str]:
    names = set()
    for key in store.list("models/"):
        parts = key.split("/")
        if len(parts) >= 4 and parts[2] == "versions":
            names.add(parts[1])
    return sorted(names)


def parse_ref(ref: str, default: str = "latest") -> tuple[str, str]:
    """'name@3', 'name@production', 'name' -> (name, ref)."""
    name, _, version = ref.partition("@")
    if not name:
        raise UsageError(f"model reference {ref!r}: expected NAME, NAME@VERSION or NAME@ALIAS")
    return name, version or default


def _ranges(numbers: list[int]) -> str:
    if len(numbers) > 6:
        return f"1..{numbers[-1]}" if numbers == list(range(1, numbers[-1] + 1)) else \
            f"{', '.join(map(str, numbers[:3]))}, ..., {numbers[-1]}"
    return ", ".join(map(str, numbers))


def download_model(store: Store, record: dict[str, Any], cache_root: Any) -> Any:
    """Download a version's model/ directory (verified) into a local cache; return its path."""
    from pathlib import Path

    dest = Path(cache_root) / record["name"] / str(record["version"])
    store.download_run(record["run_id"], dest, only=["model/"])
    return dest / "model"
