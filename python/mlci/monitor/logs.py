"""Reading prediction logs back: a .jsonl file (optionally .gz) or a directory of them.

A file starts with a header line naming the input columns (mlci.monitor.predlog); each other
line is one request. A line that does not parse (the last line of a file being written, a
file cut short) is skipped and counted, never fatal.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from mlci.errors import DataError, UsageError

LOG_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def is_log_path(path: Path) -> bool:
    """True for a prediction log file or a directory holding some."""
    if path.is_dir():
        return any(True for _ in log_files(path))
    return path.name.endswith(LOG_SUFFIXES)


def log_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.name.endswith(LOG_SUFFIXES):
            yield p


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """'24h', '90m', '7d', '3600s' (before now) or an ISO-8601 time -> Unix time."""
    if not text:
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if m:
        return now - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a duration (24h, 90m, 7d) or an ISO time "
                         "(2026-11-22T00:00:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


@dataclass
class LogFile:
    path: Path
    columns: list[str]
    classes: list[Any] | None
    dtypes: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def schema(self) -> Any:
        from mlci.serve.wire import Schema, column_kind

        dtypes = self.dtypes if len(self.dtypes) == len(self.columns) else ["float64"] * len(self.columns)
        return Schema(self.columns, [column_kind(d) for d in dtypes], dtypes)


def request_rows(rec: dict[str, Any], schema: Any) -> list[list[Any]] | None:
    """A logged request's input rows in column order: from "inputs", or by parsing the logged
    body with the server's own wire formats. None when the body does not parse."""
    if "inputs" in rec:
        return rec["inputs"]
    from mlci.serve import wire

    if "body" in rec:
        raw, ctype = json.dumps(rec["body"]).encode(), "application/json"
    elif "body_text" in rec:
        raw, ctype = str(rec["body_text"]).encode(), rec.get("content_type") or "text/csv"
    else:
        return None
    try:
        return wire.parse(raw, ctype, schema).rows
    except wire.BadRequest:
        return None


@dataclass
class Logs:
    files: list[LogFile]
    bad_lines: int = 0
    skipped_old: int = 0

    @property
    def records(self) -> int:
        return sum(len(f.records) for f in self.files)

    def describe(self, path: Path) -> dict[str, Any]:
        versions: dict[str, int] = {}
        for f in self.files:
            for r in f.records:
                v = str(r.get("version") or "")
                versions[v] = versions.get(v, 0) + 1
        return {"path": str(path), "files": len(self.files), "records": self.records,
                "rows": sum(len(r.get("inputs") or []) for f in self.files for r in f.records),
                "bad_lines": self.bad_lines, "older_than_since": self.skipped_old, "versions": versions}


def read_logs(path: Path, since: float | None = None) -> Logs:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    out = Logs([])
    files = list(log_files(path))
    if not files:
        raise DataError(f"{path}: no prediction log files (*.jsonl) found")
    for p in files:
        current: LogFile | None = None
        schema: Any = None
        try:
            opener = gzip.open if p.name.endswith(".gz") else open
            with opener(p, "rt", encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        out.bad_lines += 1
                        continue
                    if not isinstance(rec, dict):
                        out.bad_lines += 1
                        continue
                    if rec.get("type") == "header":
                        columns, classes = list(rec.get("columns") or []), rec.get("classes")
                        current = LogFile(p, columns, classes, list(rec.get("dtypes") or []))
                        schema = current.schema()
                        out.files.append(current)
                        continue
                    if current is None:  # a record without a header: columns unknown
                        out.bad_lines += 1
                        continue
                    if since is not None and float(rec.get("ts") or 0) < since:
                        out.skipped_old += 1
                        continue
                    rows = request_rows(rec, schema)
                    if rows is None:
                        out.bad_lines += 1
                        continue
                    rec["inputs"] = rows
                    rec.pop("body", None)
                    response = rec.pop("response", None)
                    if isinstance(response, dict):
                        rec["outputs"] = response.get("predictions") or []
                        if response.get("probabilities") is not None:
                            rec["proba"] = response["probabilities"]
                    current.records.append(rec)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise DataError(f"{p}: cannot read prediction log: {exc}") from None
    return out


def inputs_frame(logs: Logs) -> Any:
    """The logged inputs as one DataFrame (one row per predicted row)."""
    import pandas as pd

    frames = []
    for f in logs.files:
        rows = [row for r in f.records for row in (r.get("inputs") or [])]
        if rows:
            frames.append(pd.DataFrame.from_records(rows, columns=f.columns))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def predictions_frame(logs: Logs) -> Any:
    """One row per predicted row: request_id, row, ts, version, prediction, proba (or None)."""
    import pandas as pd

    out: dict[str, list[Any]] = {"request_id": [], "row": [], "ts": [], "version": [], "prediction": [],
                                 "proba": []}
    for f in logs.files:
        for r in f.records:
            outputs = r.get("outputs") or []
            proba = r.get("proba")
            for i, y in enumerate(outputs):
                out["request_id"].append(str(r.get("request_id")))
                out["row"].append(i)
                out["ts"].append(float(r.get("ts") or 0))
                out["version"].append(str(r.get("version") or ""))
                out["prediction"].append(y)
                out["proba"].append(proba[i] if proba is not None and i < len(proba) else None)
    return pd.DataFrame(out)


def classes_of(logs: Logs) -> list[Any] | None:
    for f in reversed(logs.files):
        if f.classes:
            return list(f.classes)
    return None
