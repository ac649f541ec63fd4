"""Helpers every layer needs: content hashes (and their cache), atomic file writes, JSON, UTC timestamps.

A leaf module: it imports nothing of mlci, so any module may use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def glob_regex(pattern: str) -> "re.Pattern[str]":
    """A glob over relative POSIX paths: `*` and `?` stay within a folder, `**/` spans folders,
    `[...]` (`[!...]`) is a character class."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and pattern.find("]", i + 2) > 0:
            end = pattern.find("]", i + 2)
            body = pattern[i + 1:end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


class HashCache:
    """sha256 of files, remembered by (path, size, mtime_ns) in a JSON file, so an unchanged file
    is not read again (the workspace keeps one: .mlci/cache/hashes.json). Threads may share one.

    A file modified less than a second before it was hashed is not remembered: on a filesystem
    whose clock ticks coarsely it could still be rewritten with the same size and mtime (the
    "racily clean" case git guards against the same way). It is hashed again next time.
    """

    RACY_NS = 1_000_000_000

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, list[Any]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False
        self._dirs: dict[str, str] = {}  # folder -> its real path

    def _stat(self, file: Path) -> tuple[str, os.stat_result]:
        """The cache's key for ``file`` (its real path) and its stat: one lstat for a file that is
        not a link (its folder's real path is looked up once per HashCache, i.e. per command),
        where ``file.resolve()`` costs an lstat per component of the path."""
        st = os.lstat(file)
        if stat.S_ISLNK(st.st_mode):
            return str(file.resolve()), file.stat()
        parent = os.path.dirname(file)
        real = self._dirs.get(parent)
        if real is None:
            real = os.path.realpath(parent)
            if os.path.isabs(parent):  # a relative one depends on the working directory
                self._dirs[parent] = real
        return os.path.join(real, os.path.basename(file)), st

    def _find(self, file: Path) -> tuple[str | None, str, os.stat_result]:
        key, st = self._stat(file)
        hit = self.entries.get(key)
        return (hit[2] if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns else None), key, st

    def lookup(self, file: Path) -> tuple[str | None, int]:
        """The remembered sha256 of ``file`` if its size and mtime are what they were (else None),
        and its size."""
        sha, _, st = self._find(file)
        return sha, st.st_size

    def sha256(self, file: Path) -> str:
        sha, key, st = self._find(file)
        if sha:
            return sha
        sha = sha256_file(file)
        after = file.stat()
        if (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns) \
                and time.time_ns() - st.st_mtime_ns >= self.RACY_NS:
            self.entries[key] = [st.st_size, st.st_mtime_ns, sha]
            self.dirty = True
        return sha

    def forget(self, file: Path) -> None:
        """Hash ``file`` again next time (it changed without its size or mtime showing it)."""
        try:
            key = self._stat(file)[0]
        except OSError:  # gone: nothing of it will match
            return
        if self.entries.pop(key, None) is not None:
            self.dirty = True

    def save(self) -> None:
        if self.dirty:
            write_text(self.path, json.dumps(self.entries))
            self.dirty = False


def dumps(obj: Any) -> bytes:
    """The JSON of every record mlci writes: sorted keys, indented, one trailing newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file atomically: readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, dumps(obj))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def utc_now() -> str:
    """Now as an ISO 8601 UTC timestamp with milliseconds: 2026-11-30T06:07:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
