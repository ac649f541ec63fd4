"""The registry's records for the catalog, read with one listing of ``models/`` and a GET for
each record whose (size, modification time) changed since the previous build.

Records are the registry's own files (mlci.registry): ``versions/<n>.json``,
``aliases/<alias>.json`` and ``events/<time>-<id>.json``. A record that cannot be read as the
JSON object it should be is kept as a problem on its model's page; the rest is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.store.base import KeyMissing, ObjectInfo, Store, parallel
from mlci.util import write_bytes

CACHE_FILE = ".mlci-site-cache.json"
KINDS = ("versions", "aliases", "events")


@dataclass
class Model:
    name: str
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # what the records were when read: (size, mtime) per key, so pages built from unchanged
    # records need not be rendered again
    stamps: dict[str, str] = field(default_factory=dict)

    def stamp(self, *keys: str) -> str:
        """A token that changes when any of these records (default: all) changes."""
        import hashlib

        chosen = keys or tuple(sorted(self.stamps))
        return hashlib.sha256("|".join(f"{k}={self.stamps.get(k)}" for k in chosen).encode()).hexdigest()[:16]

    def version_key(self, version: int) -> str:
        return f"models/{self.name}/versions/{version}.json"

    def alias_key(self, alias: str) -> str:
        return f"models/{self.name}/aliases/{alias}.json"

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.versions[max(self.versions)] if self.versions else None

    def alias_names(self, version: int) -> list[str]:
        return sorted(a for a, rec in self.aliases.items() if rec.get("version") == version)


@dataclass
class Catalog:
    models: dict[str, Model]
    requests: dict[str, int]  # store requests made: {"list": n, "get": n}


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


def collect(store: Store, cache_dir: Path, workers: int = 16) -> Catalog:
    """Every model's records. Raises the store's errors (InfraError: exit 3) when the store
    cannot be listed; a record that vanished between listing and reading is a problem."""
    cache_path = cache_dir / CACHE_FILE
    try:
        cache: dict[str, Any] = json.loads(cache_path.read_text())
        if cache.get("store") != store.uri:
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entries: dict[str, Any] = cache.get("entries", {})
    infos = [i for i in store.list_info("models/")
             if len(i.key.split("/")) == 4 and i.key.split("/")[2] in KINDS and i.key.endswith(".json")]
    stale = [i for i in infos if (e := entries.get(i.key)) is None
             or (e.get("size"), e.get("mtime")) != (i.size, i.mtime)]

    def fetch(info: ObjectInfo) -> tuple[str, dict[str, Any]]:
        try:
            data: bytes | None = store.get_bytes(info.key)
        except KeyMissing:
            data = None
        return info.key, _parse(info.key, info, data)

    fresh = dict(parallel(fetch, stale, workers))
    live = {i.key for i in infos}
    gone = set(entries) - live
    if fresh or gone or not cache_path.is_file():
        entries = {k: v for k, v in {**entries, **fresh}.items() if k in live}
        write_bytes(cache_path, json.dumps({"store": store.uri, "entries": entries}).encode())

    models: dict[str, Model] = {}
    for key in sorted(entries):
        _, name, kind, file = key.split("/")
        model = models.setdefault(name, Model(name))
        entry = entries[key]
        model.stamps[key] = f"{entry['size']}:{entry['mtime']}"
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
    for model in models.values():
        model.events.sort(key=lambda e: str(e.get("time", "")))
    return Catalog(models=dict(sorted(models.items())), requests={"list": 1, "get": len(stale)})
