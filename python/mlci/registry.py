"""The model registry: versions, aliases and an audit log, kept as data in the store.

  models/<name>/versions/<n>.json          one record per version, created with a
                                           conditional write (never two with one number)
  models/<name>/fingerprints/<fp>.json     claim: a training fingerprint is registered once
  models/<name>/aliases/<alias>.json       {version, history}, moved with compare-and-swap
  models/<name>/latest.json                a hint: the last version registered (latest_number)
  models/<name>/events/<time>-<id>.json    append-only audit log (who, when, build, why)
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, TypedDict

from mlci import crashpoints
from mlci.errors import CheckFailed, IntegrityError, NotFoundError, UsageError
from mlci.store.base import KeyMissing, Store, check_run_id, writer_gone
from mlci.util import dumps, utc_now as now

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

ALIAS_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


# --- the records, as written here and read by the site, the report, fetch, deploy and gc -------
class BuildInfo(TypedDict, total=False):
    """The Jenkins build an action came from (absent outside Jenkins)."""

    url: str
    job: str
    number: str
    node: str
    commit: str


class VersionRecord(TypedDict, total=False):
    """models/<name>/versions/<n>.json: what publish registered (mlci.publish) plus what the
    registry adds (name, version, created, actor, build); image push appends ``images``, gc
    sets ``collected``; ``store_run`` when the run is stored under another id than ``run_id``."""

    name: str
    version: int
    run_id: str
    store_run: str
    fingerprint: str
    task: str
    estimator: str
    blessed: bool
    metrics: dict[str, float]
    gates: list[dict[str, Any]]  # mlci.gates.GateResult
    baseline: dict[str, Any] | None
    validation: dict[str, Any] | None
    files: dict[str, int]
    lineage: dict[str, Any]  # data, code, split, config, versions, params, keep_data
    created: str
    actor: str
    build: BuildInfo
    images: list[dict[str, Any]]
    collected: dict[str, Any]


class AliasRecord(TypedDict):
    """models/<name>/aliases/<alias>.json: the version it points to and the previous holders
    (``mlci rollback`` returns to the last one)."""

    alias: str
    version: int
    history: list[int]
    updated: str
    actor: str


class Event(TypedDict, total=False):
    """models/<name>/events/<time>-<id>.json, never rewritten. ``event`` is register, promote,
    rollback, image, deploy or gc; the other fields depend on it."""

    event: str
    model: str
    time: str
    build: BuildInfo
    actor: str
    version: int
    alias: str
    from_version: int | None
    reason: str | None
    forced: bool


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
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise UsageError(f"model name {name!r}: expected letters, digits, '.', '_' or '-' "
                             "(not starting with '.' or '-')")
        self.store = store
        self.name = name
        self.prefix = f"models/{name}"

    # --- reading ----------------------------------------------------------------------------
    def _json(self, key: str, data: bytes | None = None) -> dict[str, Any]:
        """A registry record: a JSON object whose ``version`` (if any) is a number and whose
        ``history`` (aliases) is a list of numbers. Anything else is a corrupt record (exit 2)."""
        if data is None:
            data = self.store.get_bytes(key)  # KeyMissing when absent
        where = f"registry record {self.store.uri}/{key}"
        try:
            rec = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise IntegrityError(f"{where} is not valid JSON ({str(exc)[:100]}); fix or restore it by hand") from None
        if not isinstance(rec, dict):
            raise IntegrityError(f"{where} is a JSON {type(rec).__name__}, expected an object; "
                                 "fix or restore it by hand")
        version = rec.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
            raise IntegrityError(f"{where}: `version` is {version!r}, expected a version number; "
                                 "fix or restore it by hand")
        history = rec.get("history", [])
        if not isinstance(history, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in history):
            raise IntegrityError(f"{where}: `history` is {str(history)[:60]}, expected a list of version "
                                 "numbers; fix or restore it by hand")
        if key.startswith(f"{self.prefix}/versions/"):
            if version is None or rec.get("run_id") is not None and not isinstance(rec.get("run_id"), str):
                raise IntegrityError(f"{where} has no version number or a bad run_id; fix or restore it by hand")
            if rec.get("run_id") is not None:
                try:
                    check_run_id(rec["run_id"])
                except IntegrityError as exc:
                    raise IntegrityError(f"{where}: {exc}") from None
        return rec

    def exists(self) -> bool:
        return bool(self.store.list(f"{self.prefix}/versions/"))

    def version_numbers(self) -> list[int]:
        out = []
        for key in self.store.list(f"{self.prefix}/versions/"):
            stem = key.rsplit("/", 1)[-1].removesuffix(".json")
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def latest_number(self) -> int:
        """The highest version number (0 when none) in constant store requests: the hint
        ``latest.json`` that each registration writes, then a look at the numbers just above it.
        The hint is never trusted alone (a slower registration may write an older number last):
        the look upward corrects it. Without a hint (a registry from before it) one listing."""
        try:
            hint = json.loads(self.store.get_bytes(f"{self.prefix}/latest.json")).get("version")
        except (KeyMissing, ValueError, AttributeError):
            hint = None
        if not isinstance(hint, int) or isinstance(hint, bool) or hint < 0 or (
                hint > 0 and not self.store.exists(f"{self.prefix}/versions/{hint}.json")):
            numbers = self.version_numbers()
            return numbers[-1] if numbers else 0
        n = hint
        while self.store.exists(f"{self.prefix}/versions/{n + 1}.json"):
            n += 1
        return n

    def page(self, limit: int, before: int | None = None) -> list[VersionRecord]:
        """Up to ``limit`` versions, newest first, below ``before`` (default: from the latest).
        One GET per version shown, whatever the model's history holds."""
        n = self.latest_number()
        if before is not None:
            n = min(n, before - 1)
        out: list[VersionRecord] = []
        while n >= 1 and len(out) < limit:
            try:
                out.append(self._json(f"{self.prefix}/versions/{n}.json"))
            except KeyMissing:  # a number removed by hand: skip it
                pass
            n -= 1
        return out

    def get(self, version: int) -> VersionRecord:
        try:
            return self._json(f"{self.prefix}/versions/{version}.json")
        except KeyMissing:
            known = self.version_numbers()
            if not known:
                raise NotFoundError(f"model `{self.name}` is not registered in {self.store.uri}") from None
            raise NotFoundError(f"model `{self.name}` has no version {version} "
                                f"(versions: {_ranges(known)})") from None

    def versions(self) -> list[VersionRecord]:
        return [self.get(n) for n in self.version_numbers()]

    def alias(self, alias: str) -> AliasRecord | None:
        try:
            rec = self._json(f"{self.prefix}/aliases/{alias}.json")
        except KeyMissing:
            return None
        if rec.get("version") is None:
            raise IntegrityError(f"registry record {self.store.uri}/{self.prefix}/aliases/{alias}.json "
                                 "has no version; fix or restore it by hand")
        return rec

    def aliases(self) -> dict[str, int]:
        out = {}
        for key in self.store.list(f"{self.prefix}/aliases/"):
            name = key.rsplit("/", 1)[-1].removesuffix(".json")
            rec = self.alias(name)
            if rec is not None:
                out[name] = rec["version"]
        return out

    def resolve(self, ref: str | int) -> VersionRecord:
        """A version record from '3', 'v3', 'latest' or an alias name."""
        ref = str(ref)
        if ref.lstrip("v").isdigit():
            return self.get(int(ref.lstrip("v")))
        if ref == "latest":
            latest = self.latest_number()
            if not latest:
                raise NotFoundError(f"model `{self.name}` is not registered in {self.store.uri}")
            return self.get(latest)
        if not set(ref) <= ALIAS_CHARS or ref[:1] in ("", ".", "-"):
            raise UsageError(f"model reference {self.name}@{ref}: expected a version number, 'latest' "
                             "or an alias name (letters, digits, '-', '_' or '.')")
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

    def _find_version_with_fingerprint(self, fingerprint: str) -> dict[str, Any] | None:
        """The version a crashed publish created before it could record it in its claim."""
        for n in reversed(self.version_numbers()):
            rec = self.get(n)
            if rec.get("fingerprint") == fingerprint:
                return rec
        return None

    def _has_register_event(self, version: int) -> bool:
        return any(e.get("event") == "register" and e.get("version") == version for e in self.history())

    def history(self) -> list[Event]:
        return [self._json(k) for k in self.store.list(f"{self.prefix}/events/")]

    # --- writing ----------------------------------------------------------------------------
    def event(self, event: str, **fields: Any) -> Event:
        rec = {"event": event, "model": self.name, "time": now(), "build": build_info(), **fields}
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{self.prefix}/events/{stamp}-{uuid.uuid4().hex[:8]}.json"
        if not self.store.put_if_absent(key, dumps(rec)):
            raise IntegrityError(f"audit event key collision: {key}")
        return rec

    def register(self, record: dict[str, Any], actor: str | None = None,
                 wait_for_claim_s: float = 30.0) -> tuple[dict[str, Any], bool]:
        """Register a new version; returns (record, created). A fingerprint that is already
        registered returns that version with created=False.

        Steps, each safe to crash after: claim the fingerprint (put-if-absent), create
        ``versions/<n>.json`` (put-if-absent on the next free n), write the ``register`` event,
        record n in the claim. A rerun that finds a claim without a version waits for its
        claimant; once the claimant is gone (its process is dead on this host, or it has been
        silent for ``wait_for_claim_s``) it takes the claim over with compare-and-swap and
        completes what was done: the version it created (found by its fingerprint) gets its
        missing event and claim, so the run is never registered twice."""
        fingerprint = record["fingerprint"]
        claim_key = f"{self.prefix}/fingerprints/{fingerprint}.json"
        mine = dumps({"fingerprint": fingerprint, "time": now(), "host": socket.gethostname(),
                      "pid": os.getpid()})
        if not self.store.put_if_absent(claim_key, mine):
            deadline = time.monotonic() + wait_for_claim_s
            while True:
                raw, token = self.store.get_versioned(claim_key)
                claim = self._json(claim_key, raw)
                if claim.get("version") is not None:
                    return self.get(claim["version"]), False
                if writer_gone(claim) or time.monotonic() > deadline:
                    if self.store.put_if_match(claim_key, mine, token):
                        break  # the claim is ours now
                    continue  # someone else took it over, or the claimant finished: look again
                time.sleep(0.2)
            found = self._find_version_with_fingerprint(fingerprint)
            if found is not None:  # the claimant died after creating its version: complete it
                if not self._has_register_event(found["version"]):
                    self._register_event(found, record)
                self.store.put_bytes(claim_key, dumps({"fingerprint": fingerprint,
                                                       "version": found["version"], "time": now()}))
                return found, True
        crashpoints.step("register:claim")
        actor = actor or default_actor()
        n = self.latest_number() + 1  # constant requests; put-if-absent keeps numbers unique
        while True:
            full = {**record, "name": self.name, "version": n, "created": now(), "actor": actor,
                    "build": build_info()}
            if self.store.put_if_absent(f"{self.prefix}/versions/{n}.json", dumps(full)):
                break
            n += 1
        self.store.put_bytes(f"{self.prefix}/latest.json", dumps({"version": n}))  # a hint, see latest_number
        crashpoints.step("register:version")
        self._register_event(full, record)
        crashpoints.step("register:event")
        self.store.put_bytes(claim_key, dumps({"fingerprint": fingerprint, "version": n, "time": now()}))
        return full, True

    def _register_event(self, full: dict[str, Any], record: dict[str, Any]) -> None:
        self.event("register", version=full["version"], actor=full.get("actor"), run_id=record.get("run_id"),
                   fingerprint=record["fingerprint"], metrics=record.get("metrics"),
                   blessed=record.get("blessed"),
                   commit=(record.get("lineage") or {}).get("code", {}).get("git_commit"))

    def _usable(self, version: int, alias: str) -> dict[str, Any]:
        """The version record, if an alias may point to it: it exists and gc has not collected it."""
        rec = self.get(version)
        if rec.get("collected"):
            raise NotFoundError(f"{self.name} v{version} was garbage-collected on "
                                f"{(rec['collected'] or {}).get('time')} (its files are gone); "
                                f"`{alias}` cannot point to it and stays where it is")
        return rec

    def _move_alias(self, alias: str, target: Callable[[dict[str, Any] | None], tuple[int, list[int]]], *,
                    actor: str, reason: str | None, event: str,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Compare-and-swap loop: read the alias, let ``target(current)`` choose the new version
        and history from what was just read (a retry re-reads and chooses again), write it only
        if nobody moved the alias meanwhile, then audit it."""
        check_alias(alias)
        self.store.check_conditional_writes()
        key = f"{self.prefix}/aliases/{alias}.json"
        for _ in range(200):
            try:
                raw, token = self.store.get_versioned(key)
                current: dict[str, Any] | None = self._json(key, raw)
            except KeyMissing:
                raw, current, token = None, None, None
            crashpoints.step("alias:read")
            version, history = target(current)
            self._usable(version, alias)
            previous = current["version"] if current else None
            new = {"alias": alias, "version": version, "history": history, "updated": now(), "actor": actor}
            body = dumps(new)
            if not self.store.put_if_match(key, body, token):
                continue
            crashpoints.step("alias:written")
            # gc marks a version collected, then re-reads the aliases; we moved the alias, now we
            # re-read the version. One of the two sees the other: if gc got there first, undo.
            try:
                self._usable(version, alias)
            except NotFoundError:
                self._undo(key, body, raw)
                raise
            self.event(event, alias=alias, version=version, from_version=previous, actor=actor,
                       reason=reason, **(extra or {}))
            return new
        raise IntegrityError(f"alias {alias}: too much contention, gave up")

    def _undo(self, key: str, written: bytes, before: bytes | None) -> None:
        try:
            now_raw, token = self.store.get_versioned(key)
        except KeyMissing:
            return
        if now_raw != written:
            return  # moved on since; that move made its own check
        if before is None:
            self.store.delete(key)
        else:
            self.store.put_if_match(key, before, token)

    def set_alias(self, alias: str, version: int, *, actor: str, reason: str | None,
                  event: str = "promote", extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Move ``alias`` to ``version`` with compare-and-swap; audit it."""
        self.get(version)  # must exist

        def to_version(current: dict[str, Any] | None) -> tuple[int, list[int]]:
            history = list((current or {}).get("history", []))
            previous = current["version"] if current else None
            if previous is not None and previous != version:
                history.append(previous)
            return version, history

        return self._move_alias(alias, to_version, actor=actor, reason=reason, event=event, extra=extra)

    def promote(self, version: int, alias: str, *, actor: str, reason: str | None,
                force: bool = False) -> dict[str, Any]:
        rec = self._usable(version, alias)
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
        """Move ``alias`` back to the version it held before (the top of its history stack)."""
        check_alias(alias)

        def back(current: dict[str, Any] | None) -> tuple[int, list[int]]:
            if current is None:
                raise NotFoundError(f"model `{self.name}` has no alias `{alias}`")
            if not current.get("history"):
                raise UsageError(f"{self.name}@{alias} has no previous version to roll back to")
            return current["history"][-1], current["history"][:-1]

        return self._move_alias(alias, back, actor=actor, reason=reason, event="rollback")


def store_run_id(record: dict[str, Any]) -> str:
    """The run id a version's files are published under in the store (``runs/<id>/``): the
    run id, or ``<run id>.<model>`` when another model had already published that run id."""
    return check_run_id(record.get("store_run") or record.get("run_id"))


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
    version = version or default
    if not NAME.fullmatch(name) or not (set(version) <= ALIAS_CHARS) or version[:1] in (".", "-"):
        raise UsageError(f"model reference {ref!r}: expected NAME, NAME@VERSION or NAME@ALIAS "
                         "(letters, digits, '.', '_' and '-')")
    return name, version


def _ranges(numbers: list[int]) -> str:
    if len(numbers) > 6:
        return f"1..{numbers[-1]}" if numbers == list(range(1, numbers[-1] + 1)) else \
            f"{', '.join(map(str, numbers[:3]))}, ..., {numbers[-1]}"
    return ", ".join(map(str, numbers))


def download_model(store: Store, record: dict[str, Any], cache_root: Any) -> Any:
    """Download a version's model/ directory (verified) into a local cache; return its path."""
    from pathlib import Path

    dest = Path(cache_root) / record["name"] / str(record["version"])
    store.download_run(store_run_id(record), dest, only=["model/"])
    return dest / "model"
