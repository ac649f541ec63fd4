"""`mlci data status`: has the training data changed, seen from its listing alone?

The fingerprint of data.train and data.test (mlci.sources: ETags from one LIST per 1000 objects,
local files by size and mtime through the hash cache) is compared with a mark kept in the store,
``models/<name>/data-mark.json``, which ``--mark`` writes (the data-change poll job marks after
it triggered training); without a mark, with the data the latest registered version was trained
on; with neither, the data counts as changed. Nothing is downloaded.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from mlci.errors import IntegrityError
from mlci.registry import Registry, store_run_id
from mlci.runs import Project
from mlci.sources import PartRecord
from mlci.store.base import KeyMissing, Store
from mlci.util import dumps, utc_now

ROLES = ("train", "test")


class SourceStatus(TypedDict):
    source: str
    fingerprint: str
    parts: int
    bytes: int
    changed: bool
    changes: list[str]  # "<part> added|removed|changed", when the earlier parts are known


class DataStatus(TypedDict):
    name: str
    changed: bool
    since: str | None  # "mark", "v7", or None (nothing to compare with)
    sources: dict[str, SourceStatus]


def mark_key(name: str) -> str:
    return f"models/{name}/data-mark.json"


def _current(project: Project) -> dict[str, dict[str, Any]]:
    out = {}
    for role, source in project.data_sources.items():
        if role not in ROLES:
            continue
        records = source.part_records(project.hashes) if source.single_file is None else []
        parts = source.parts()
        out[role] = {"source": source.label, "fingerprint": project.data_hashes[role],
                     "bytes": sum(p.size for p in parts), "parts": records, "count": len(parts)}
    project.hashes.save()
    return out


def _previous(project: Project, store: Store) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """(what we compare with, role -> {fingerprint, parts}) from the mark, else the latest version."""
    key = mark_key(project.config.name)
    try:
        mark = json.loads(store.get_bytes(key))
        return "mark", dict(mark["sources"])
    except KeyMissing:
        pass
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{store.uri}: {key} is not a data mark (JSON with `sources`); "
                             "run `mlci data status --mark` to write a new one") from None
    registry = Registry(store, project.config.name)
    if not registry.latest_number():
        return None, {}
    record = registry.resolve("latest")
    data = (record.get("lineage") or {}).get("data") or {}
    parts: dict[str, Any] = {}
    if any("parts" in (data.get(r) or {}) for r in ROLES):
        parts = _run_file(store, record, "data.json") or {}
    return f"v{record['version']}", {role: {"fingerprint": entry.get("sha256"), "parts": parts.get(role)}
                                     for role, entry in data.items() if role in ROLES}


def _run_file(store: Store, record: Any, name: str) -> Any:
    """One JSON file of a published run (verified against the manifest's sha256), or None."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="mlci-data-status-") as tmp:
        store.download_run(store_run_id(record), Path(tmp), only=[name])
        path = Path(tmp) / name
        return json.loads(path.read_text()) if path.is_file() else None


def _part_changes(before: list[PartRecord] | None, after: list[PartRecord]) -> list[str]:
    if before is None:
        return []
    key = ("etag", "sha256", "size")
    old = {p["name"]: tuple(p.get(k) for k in key) for p in before}
    new = {p["name"]: tuple(p.get(k) for k in key) for p in after}
    out = [f"{n} added" for n in sorted(set(new) - set(old))]
    out += [f"{n} removed" for n in sorted(set(old) - set(new))]
    out += [f"{n} changed" for n in sorted(set(old) & set(new)) if old[n] != new[n]]
    return out


def status(project: Project, store: Store) -> DataStatus:
    current = _current(project)
    since, previous = _previous(project, store)
    sources: dict[str, SourceStatus] = {}
    for role, now in current.items():
        before = previous.get(role)
        changed = before is None or before.get("fingerprint") != now["fingerprint"]
        sources[role] = SourceStatus(source=now["source"], fingerprint=now["fingerprint"], parts=now["count"],
                                     bytes=now["bytes"], changed=changed,
                                     changes=_part_changes(before.get("parts") if before else None,
                                                           now["parts"]) if changed else [])
    gone = [role for role in previous if role not in current]
    return DataStatus(name=project.config.name, changed=any(s["changed"] for s in sources.values()) or bool(gone),
                      since=since, sources=sources)


def mark(project: Project, store: Store) -> dict[str, Any]:
    """Record the data as it is now as the mark the next status compares with."""
    current = _current(project)
    record = {"marked": utc_now(), "sources": {role: {"source": c["source"], "fingerprint": c["fingerprint"],
                                                      "parts": c["parts"]} for role, c in current.items()}}
    store.put_bytes(mark_key(project.config.name), dumps(record))
    return record
