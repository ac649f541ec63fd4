"""Which rows repeat an earlier row's key: the `unique` and `no_duplicate_rows` rules.

Keys are 64-bit numbers (rules.py makes them). Without a budget every key is held and sorted
once at the end. With a budget of ``budget`` keys (``--chunk-rows N``: N keys), at
most that many keys with their row numbers are held; when more arrive, the held ones are cut
to their first occurrences (a later occurrence in the same piece repeats an earlier row
whatever came before it, so it is counted and its row noted right away) and appended, 16 bytes
a key, to one of 16 files in a temporary directory chosen by the top 4 bits of a hash of the
key. Every occurrence of a key lands in the same file, so at the end each file is checked on
its own (one above the budget is first split by the next 4 bits). Files keep rows in order,
so "the first occurrence" means the same as in memory: the count and the first ``sample``
rows are the same whether or not anything was written to disk.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from mlci.errors import InfraError

PAIR = np.dtype([("key", "<u8"), ("row", "<i8")])
BITS = 4  # each level splits a file into 2**BITS files by the next BITS bits of the hash
LEVELS = 64 // BITS
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: key * _MIX is a bijection that spreads sequential ids


class Duplicates:
    """Feed ``add(keys, rows)`` in row order, then ``finish()`` -> (count, first rows)."""

    def __init__(self, sample: int, budget: int | None = None):
        self.sample = sample
        self.budget = budget
        self.failing = 0
        self.rows = np.empty(0, dtype=np.int64)  # the smallest duplicate rows seen, sorted
        self.spills = 0  # how often held keys went to disk (tests read it)
        self.most_held = 0  # the most keys held at once (tests read it)
        self._keys: list[Any] = []
        self._rows: list[Any] = []  # int64 arrays, or (first row, n) for consecutive rows
        self._held = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def add(self, keys: Any, rows: Any) -> None:
        """``keys``: uint64 array; ``rows``: their row numbers (int64 array) or (first row, n)."""
        if not len(keys):
            return
        self._keys.append(keys)
        self._rows.append(rows)
        self._held += len(keys)
        self.most_held = max(self.most_held, self._held)
        if self.budget is not None and self._held >= self.budget:
            self._spill()

    def finish(self) -> tuple[int, list[int]]:
        try:
            if self._dir is None:
                keys = np.concatenate(self._keys) if self._keys else np.empty(0, dtype=np.uint64)
                self._keys = []
                dup = _repeats(keys)
                if dup is not None:
                    self._note(_row_numbers(self._rows)[dup])
            else:
                if self._keys:
                    self._spill()
                for name in _names(""):
                    self._check(name)
        finally:
            self._keys, self._rows, self._held = [], [], 0
            self.close()
        return self.failing, self.rows.tolist()

    def close(self) -> None:
        """Remove the spill files (also done when the object is collected, or at exit)."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    # -- internals -----------------------------------------------------------------------
    def _note(self, dup_rows: Any) -> None:
        """Count duplicate rows (sorted) and keep the smallest ``sample`` of all seen."""
        self.failing += len(dup_rows)
        if self.sample and len(dup_rows) and (len(self.rows) < self.sample or dup_rows[0] < self.rows[-1]):
            self.rows = np.sort(np.concatenate([self.rows, dup_rows[: self.sample]]))[: self.sample]

    def _path(self, name: str) -> str:
        assert self._dir is not None
        return os.path.join(self._dir.name, name)

    def _spill(self) -> None:
        keys = np.concatenate(self._keys)
        rows = _row_numbers(self._rows)
        self._keys, self._rows, self._held = [], [], 0
        dup = _repeats(keys)
        if dup is not None:  # later occurrences within the piece: duplicates already
            self._note(rows[dup])
            keys, rows = keys[~dup], rows[~dup]
        if self._dir is None:
            try:
                self._dir = tempfile.TemporaryDirectory(prefix="mlci-unique-")
            except OSError as exc:
                raise InfraError(f"cannot create a temporary directory for the unique rule's keys: "
                                 f"{exc.strerror or exc}; set TMPDIR to a writable directory") from None
        self.spills += 1
        self._write(keys, rows, "")

    def _write(self, keys: Any, rows: Any, prefix: str) -> None:
        """Append (key, row) pairs to the files ``prefix`` + the next hex digit of their hash.

        One pass per file over a byte per key: little memory beyond the keys themselves."""
        with np.errstate(over="ignore"):
            h = keys * _MIX
        h >>= np.uint64(64 - BITS * (len(prefix) + 1))
        part = (h & np.uint64((1 << BITS) - 1)).astype(np.uint8)
        del h
        for i, name in enumerate(_names(prefix)):
            pick = part == i
            if not pick.any():
                continue
            pairs = np.empty(int(pick.sum()), dtype=PAIR)
            pairs["key"] = keys[pick]  # in row order, as they came
            pairs["row"] = rows[pick]
            try:
                with open(self._path(name), "ab") as fh:
                    pairs.tofile(fh)
            except OSError as exc:
                raise InfraError(f"{self._path(name)}: cannot write the unique rule's keys: "
                                 f"{exc.strerror or exc}; free space there or set TMPDIR") from None

    def _check(self, name: str) -> None:
        path = self._path(name)
        if not os.path.exists(path):
            return
        n = os.path.getsize(path) // PAIR.itemsize
        assert self.budget is not None
        if n > self.budget and len(name) < LEVELS:
            for start in range(0, n, self.budget):  # split, a budget's worth at a time
                pairs = np.fromfile(path, dtype=PAIR, count=self.budget, offset=start * PAIR.itemsize)
                self._write(np.ascontiguousarray(pairs["key"]), np.ascontiguousarray(pairs["row"]), name)
            os.remove(path)
            for sub in _names(name):
                self._check(sub)
            return
        pairs = np.fromfile(path, dtype=PAIR)
        os.remove(path)
        dup = _repeats(np.ascontiguousarray(pairs["key"]))
        if dup is not None:
            self._note(pairs["row"][dup])


def _names(prefix: str) -> list[str]:
    return [f"{prefix}{i:x}" for i in range(1 << BITS)]


def _row_numbers(parts: list[Any]) -> Any:
    return np.concatenate([np.arange(p[0], p[0] + p[1], dtype=np.int64) if isinstance(p, tuple) else p
                           for p in parts]) if parts else np.empty(0, dtype=np.int64)


def _repeats(keys: Any) -> Any:
    """True for each occurrence of a key after its first (in array order); None when all differ."""
    if len(keys) < 2:
        return None
    signed = keys.view(np.int64)
    if (signed[1:] > signed[:-1]).all():  # ids usually increase: nothing to sort
        return None
    s = np.sort(keys)
    if not (s[1:] == s[:-1]).any():
        return None
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    dup = np.zeros(len(keys), dtype=bool)
    dup[order[1:][sk[1:] == sk[:-1]]] = True
    return dup
