"""The registry's records for the catalog, read with one listing of ``models/`` and a GET for
each record whose (size, modification time) changed since the previous build.

Records are the registry's own files (mlci.registry): ``versions/<n>.json``,
``aliases/<alias>.json`` and ``events/<time>-<id>.json``. A record that cannot be read as the
JSON object it should be is kept as a problem on its model's page; the rest is shown.

The cache is one file per model in ``<output>/.mlci-site-cache/``, read only for the models
whose listing changed: an unchanged rebuild of a large store costs one listing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlci.registry import AliasRecord, Event, VersionRecord
from mlci.store.base import KeyMissing, ObjectInfo, Store, parallel
from mlci.util import write_bytes

CACHE_DIR = ".mlci-site-cache"
KINDS = ("versions", "aliases", "events")


@dataclass
class Model:
    name: str
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    aliases: dict[str, AliasRecord] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # what each record was when read, "size:mtime" by key: pages built from unchanged records
    # need not be rendered again
    stamps: dict[str, str] = field(default_factory=dict)

    @property
    def latest(self) -> VersionRecord | None:
        return self.versions[max(self.versions)] if self.versions else None

    @cached_property
    def metric_names(self) -> list[str]:
        """The numeric metrics any version has, in first-seen order."""
        names: dict[str, None] = {}
        for rec in self.versions.values():
            for k, v in (rec.get("metrics") or {}).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    names.setdefault(k)
        return list(names)

    def alias_names(self, version: int) -> list[str]:
        return sorted(a for a, rec in self.aliases.items() if rec.get("version") == version)

    def stamp(self, *keys: str) -> str:
        """A token that changes when any of these records (default: all of them) changes."""
        return stamp_of(self.stamps, keys or None)

    def version_key(self, version: int) -> str:
        return f"models/{self.name}/versions/{version}.json"

    def alias_key(self, alias: str) -> str:
        return f"models/{self.name}/aliases/{alias}.json"


def stamp_of(stamps: dict[str, str], keys: Any = None) -> str:
    chosen = sorted(stamps) if keys is None else keys
    return hashlib.sha256("|".join(f"{k}={stamps.get(k)}" for k in chosen).encode()).hexdigest()[:16]


@dataclass
class Catalog:
    """The store's models as listed; ``load(name)`` reads one model's records."""

    store: Store
    cache_dir: Path
    listing: dict[str, dict[str, ObjectInfo]]  # model -> key -> info
    requests: dict[str, int]  # store requests made: {"list": n, "get": n}

    def stamps(self, name: str) -> dict[str, str]:
        return {k: f"{i.size}:{i.mtime}" for k, i in self.listing[name].items()}

    def _cache_path(self, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return self.cache_dir / f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}.json"

    def load(self, name: str, workers: int = 16) -> Model:
        path = self._cache_path(name)
        try:
            cache = json.loads(path.read_text())
            entries: dict[str, Any] = cache["entries"] if cache.get("store") == self.store.uri else {}
        except (OSError, ValueError, KeyError, TypeError):
            entries = {}
        infos = self.listing[name]
        stale = [i for k, i in infos.items() if (e := entries.get(k)) is None
                 or (e.get("size"), e.get("mtime")) != (i.size, i.mtime)]

        def fetch(info: ObjectInfo) -> tuple[str, dict[str, Any]]:
            try:
                data: bytes | None = self.store.get_bytes(info.key)
            except KeyMissing:
                data = None
            return info.key, _parse(info.key, info, data)

        fresh = dict(parallel(fetch, stale, workers))
        self.requests["get"] += len(stale)
        if fresh or set(entries) - set(infos) or not path.is_file():
            entries = {k: v for k, v in {**entries, **fresh}.items() if k in infos}
            write_bytes(path, json.dumps({"store": self.store.uri, "entries": entries}).encode())
        model = Model(name, stamps=self.stamps(name))
        for key in sorted(entries):
            _, _, kind, file = key.split("/")
            entry = entries[key]
            if "problem" in entry:
                model.problems.append(f"{kind}/{file}: {entry['problem']}")
                continue
            record = entry["record"]
            if kind == "versions":
                model.versions[record["version"]] = record
            elif kind == "aliases":
                model.aliases[file.removesuffix(".json")] = record
            else:
                model.events.append(record)
        model.events.sort(key=lambda e: str(e.get("time", "")))
        return model


def _parse(key: str, info: ObjectInfo, data: bytes | None) -> dict[str, Any]:
    """One cache entry: the record, or the problem with it."""
    entry: dict[str, Any] = {"size": info.size, "mtime": info.mtime}
    if data is None:
        entry["problem"] = "disappeared while the site was built"
        return entry
    try:
        record = json.loads(data)
    except ValueError as exc:
        entry["problem"] = f"not valid JSON ({exc})"
        return entry
    kind = key.split("/")[2]
    if not isinstance(record, dict):
        entry["problem"] = f"expected a JSON object, got {type(record).__name__}"
    elif kind == "versions" and not isinstance(record.get("version"), int):
        entry["problem"] = "a version record without an integer `version`"
    elif kind == "aliases" and not isinstance(record.get("version"), int):
        entry["problem"] = "an alias record without an integer `version`"
    else:
        entry["record"] = record
    return entry


def collect(store: Store, cache_dir: Path) -> Catalog:
    """List the store's models (one listing). Raises the store's errors (InfraError: exit 3)
    when the store cannot be listed."""
    listing: dict[str, dict[str, ObjectInfo]] = {}
    for info in store.list_info("models/"):
        parts = info.key.split("/")
        if len(parts) == 4 and parts[2] in KINDS and parts[3].endswith(".json"):
            listing.setdefault(parts[1], {})[info.key] = info
    return Catalog(store, cache_dir / CACHE_DIR, dict(sorted(listing.items())), {"list": 1, "get": 0})
