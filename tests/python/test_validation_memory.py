"""`mlci validate --chunk-rows`: the same results as reading the file whole, in memory that does
not grow with the file (the unique rules' keys go to disk beyond a budget)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mlci.validation import duplicates, run_validation
from mlci.validation.duplicates import Duplicates
from mlci.validation.schema import parse_schema

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def spill_dirs(monkeypatch):
    """Every temporary directory the unique rules create (to check they are used and removed)."""
    made: list[str] = []

    class Recording(tempfile.TemporaryDirectory):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self.name)

    monkeypatch.setattr(duplicates.tempfile, "TemporaryDirectory", Recording)
    return made


def naive(pairs: list[tuple[int, int]], sample: int) -> tuple[int, list[int]]:
    """(row, key) in row order -> rows whose key appeared earlier: count and the first ``sample``."""
    seen: set[int] = set()
    rows = []
    for row, key in pairs:
        if key in seen:
            rows.append(row)
        seen.add(key)
    return len(rows), rows[:sample]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("budget", [3, 50, 1000])
def test_spilled_keys_give_the_count_and_rows_of_a_plain_scan(seed, budget, spill_dirs):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    distinct = int(rng.integers(1, 2 * n + 2))
    keys = rng.integers(0, distinct, n).astype(np.uint64)
    if seed == 0:
        keys[:] = 7  # one key everywhere: every spill holds it once, the files stay tiny
    dup = Duplicates(sample=25, budget=budget)
    pairs: list[tuple[int, int]] = []
    start = 0
    while start < n:  # batches of varying size; with odd seeds missing rows are left out
        size = int(rng.integers(1, 400))
        part = keys[start:start + size]
        if seed % 2:
            keep = rng.random(len(part)) < 0.8
            rows = (np.flatnonzero(keep) + start).astype(np.int64)
            dup.add(part[keep], rows)
            pairs += zip(rows.tolist(), part[keep].tolist())
        else:
            dup.add(part, (start, len(part)))
            pairs += zip(range(start, start + len(part)), part.tolist())
        start += size
    assert dup.finish() == naive(pairs, 25)
    assert dup.most_held <= budget + 400
    if n > budget + 400:
        assert dup.spills >= 1 and spill_dirs
    assert all(not os.path.exists(d) for d in spill_dirs)


def test_spilling_with_missing_rows_matches_holding_everything(spill_dirs):
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 500, 20_000).astype(np.uint64)
    valid = rng.random(len(keys)) < 0.7
    results = []
    for budget in (None, 64):
        dup = Duplicates(sample=40, budget=budget)
        for start in range(0, len(keys), 333):
            v = valid[start:start + 333]
            dup.add(keys[start:start + 333][v], (np.flatnonzero(v) + start).astype(np.int64))
        results.append(dup.finish())
        assert budget is None or dup.spills > 50  # every batch
    assert results[0] == results[1] == naive([(i, int(k)) for i, (k, v) in enumerate(zip(keys, valid)) if v], 40)


def test_a_file_above_the_budget_is_split_by_the_next_bits_of_the_hash(spill_dirs, monkeypatch):
    """Many distinct keys, a tiny budget: the first-level files are split again (and again)."""
    split: list[str] = []
    write = Duplicates._write

    def recording(self, keys, rows, prefix):
        if prefix:
            split.append(prefix)
        return write(self, keys, rows, prefix)

    monkeypatch.setattr(Duplicates, "_write", recording)
    keys = np.arange(5000, dtype=np.uint64)[::-1].copy()  # decreasing: no fast path
    keys[4000] = keys[10]
    dup = Duplicates(sample=5, budget=20)
    for start in range(0, len(keys), 7):
        dup.add(keys[start:start + 7], (start, len(keys[start:start + 7])))
    assert dup.finish() == (1, [4000])
    assert any(len(p) >= 2 for p in split)


def validate(table: pa.Table, schema: dict, chunk_rows: int | None = None) -> dict:
    return run_validation([("data", table)], schema=parse_schema(schema), chunk_rows=chunk_rows)


def test_chunked_validation_with_spilled_keys_equals_the_whole_file(spill_dirs):
    """Duplicates far apart (different chunks, different spills), NaN, -0.0 and None."""
    n = 6000
    rng = np.random.default_rng(3)
    ids = rng.permutation(n).tolist()
    ids[5900] = ids[2]            # repeats a value from the first chunk
    ids[3000] = ids[2999]         # neighbours within one chunk
    ids[100] = None               # missing values never count as duplicates
    ids[4000] = None
    x = [float(i) for i in range(n)]
    x[10], x[5000] = math.nan, math.nan  # NaN repeats NaN
    x[5500] = -0.0                       # repeats x[0] = 0.0
    x[30], x[40] = None, None
    names = [f"user{i}" for i in range(n)]
    names[5999] = "user0"
    names[50], names[60] = None, None
    cat = [None if i % 10 == 0 else f"c{i % 3}" for i in range(n)]  # mostly repeats
    table = pa.table({"id": pa.array(ids, pa.int64()), "x": pa.array(x, pa.float64()),
                      "name": names, "cat": cat})
    table = pa.concat_tables([table, table.slice(1234, 1)])  # a whole duplicate row at the end
    schema = {"columns": {c: {"unique": True, "nullable": True} for c in table.column_names},
              "table": {"no_duplicate_rows": True}}
    whole = validate(table, schema)
    assert not spill_dirs
    chunked = validate(table, schema, chunk_rows=50)
    assert chunked["datasets"][0]["batches"] > 100
    assert spill_dirs and all(not os.path.exists(d) for d in spill_dirs)
    for a, b in zip(whole["datasets"][0]["rules"], chunked["datasets"][0]["rules"]):
        assert a == b, a["id"]
    found = {r["id"]: (r["failing"], r["failing_rows"][:3], r["message"])
             for r in chunked["datasets"][0]["rules"] if r["rule"] in ("unique", "no_duplicate_rows")}
    assert found["id.unique"] == (3, [3000, 5900, 6000], "3 rows repeat an earlier value")
    assert found["x.unique"] == (3, [5000, 5500, 6000], "3 rows repeat an earlier value")
    assert found["name.unique"] == (2, [5999, 6000], "2 rows repeat an earlier value")
    assert found["cat.unique"][0] == (n - n // 10 + 1) - 3  # non-null values (one more in the last row) but 3
    assert found["table.no_duplicate_rows"] == (1, [6000], "1 rows repeat an earlier row")


# VmHWM, not getrusage's ru_maxrss: that one keeps the pytest process's size from before exec
PEAK_RSS = """
import runpy, sys
sys.argv = ["mlci", *sys.argv[1:]]
try:
    runpy.run_module("mlci", run_name="__main__")
except SystemExit as exc:
    code = exc.code
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
print("PEAK_KB", hwm, "EXIT", code, file=sys.stderr)
"""


def peak_rss_mib(data: Path, schema: Path, out: Path, env: dict[str, str], chunk_rows: int) -> float:
    p = subprocess.run([sys.executable, "-c", PEAK_RSS, "validate", "--data", str(data), "--schema", str(schema),
                        "--no-drift", "--out", str(out), "--chunk-rows", str(chunk_rows), "-q"],
                       capture_output=True, text=True, env=env)
    line = [ln for ln in p.stderr.splitlines() if ln.startswith("PEAK_KB")][-1].split()
    assert line[3] == "1", p.stderr[-2000:]  # the duplicates planted below fail the rules
    return int(line[1]) / 1024


@pytest.mark.parametrize("fmt, sizes, chunk_rows", [("parquet", (300_000, 1_200_000), 10_000),
                                                    ("csv", (200_000, 800_000), 50_000)])
def test_peak_memory_of_chunked_validation_does_not_grow_with_the_file(tmp_path, fmt, sizes, chunk_rows):
    """N and 4N rows: shuffled unique ids (no sorted fast path) and whole-row duplicates.
    Holding every key would add 3 x 16+ bytes a row (keys, sort, row numbers) x 2 rules: tens
    of MiB more at 4N; pre-buffering the Parquet file, or Arrow's CSV reader running up to 32
    blocks ahead, would add most of the file again. Done right, the runs differ by a few MiB."""
    rng = np.random.default_rng(0)
    peaks = []
    spill = tmp_path / "tmp"
    spill.mkdir()
    # one thread: the rule threads' malloc arenas alone vary the peak by 10-20 MiB from run to run
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), TMPDIR=str(spill), MLCI_THREADS="1")
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  id: {unique: true}\ntable: {no_duplicate_rows: true}\n")
    for n in sizes:
        ids = rng.permutation(n).astype(np.int64)
        ids[n - 1] = ids[0]
        table = pa.table({"id": ids, "v": rng.random(n),
                          "name": pa.array(np.char.add("customer-name-", ids.astype(str)))})
        path = tmp_path / f"d{n}.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path, row_group_size=50_000)
        del table, ids
        # the lower of two runs: a run's peak now and then lands 10-20 MiB higher (Arrow's
        # reader threads and allocator), which alone took the CSV case past the limit in CI
        peaks.append(min(peak_rss_mib(path, schema, tmp_path / "out", env, chunk_rows) for _ in range(2)))
        result = (tmp_path / "out" / "validation.json").read_text()
        assert '"failing_rows": [\n' in result and str(n - 1) in result
    assert peaks[1] - peaks[0] < 20, peaks  # before issue 22: +65-71 MiB (Parquet), +40-46 (CSV)
    assert list(spill.iterdir()) == []  # spill files removed


def test_a_parquet_directory_read_file_by_file_in_chunks_equals_reading_it_whole(tmp_path):
    """A duplicate id across two files; the second file stores `v` as int32 (cast to the first's)."""
    d = tmp_path / "data"
    d.mkdir()
    pq.write_table(pa.table({"id": pa.array(range(300), pa.int64()), "v": pa.array(range(300), pa.int64())}),
                   d / "part-0.parquet", row_group_size=70)
    pq.write_table(pa.table({"id": pa.array([*range(300, 599), 7], pa.int64()),
                             "v": pa.array(range(300), pa.int32())}), d / "part-1.parquet", row_group_size=70)
    schema = parse_schema({"columns": {"id": {"unique": True}, "v": {"dtype": "int", "max": 250}}})
    whole, chunked = (run_validation([("data", d)], schema=schema, chunk_rows=c) for c in (None, 25))
    assert chunked["datasets"][0]["batches"] >= 24
    assert whole["datasets"][0]["rules"] == chunked["datasets"][0]["rules"]
    rules = {r["id"]: r for r in chunked["datasets"][0]["rules"]}
    assert (rules["id.unique"]["failing"], rules["id.unique"]["failing_rows"]) == (1, [599])
    assert rules["v.max"]["failing"] == 2 * 49


@pytest.mark.parametrize("name", ["d.csv", "d.csv.gz"])
def test_a_csv_read_in_small_blocks_and_put_back_together_equals_reading_it_whole(tmp_path, name):
    """Batches hold --chunk-rows rows, and types still come from the first chunk-sized block:
    `late` is empty there and has numbers later, so the chunked read makes it text, as
    before (read whole, the first block holds the numbers)."""
    n = 20_000
    ids = list(range(n))
    ids[19_000] = 3
    late = ["" if i < 15_000 else str(i) for i in range(n)]
    text = "id,x,late\n" + "".join(f"{i},{i % 100 / 3},{v}\n" for i, v in zip(ids, late))
    path = tmp_path / name
    if name.endswith(".gz"):
        import gzip

        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    schema = parse_schema({"columns": {"id": {"unique": True}, "x": {"max": 30}, "late": {"dtype": "int"}}})
    whole, chunked = (run_validation([("data", path)], schema=schema, chunk_rows=c) for c in (None, 1000))
    ds = chunked["datasets"][0]
    assert ds["batches"] == n // 1000 and ds["rows"] == n
    assert ds["mixed_type_columns"] == ["late"] and whole["datasets"][0]["mixed_type_columns"] == []
    assert [r for r in whole["datasets"][0]["rules"] if r["id"] != "late.dtype"] == \
        [r for r in ds["rules"] if r["id"] != "late.dtype"]
    rules = {r["id"]: r for r in ds["rules"]}
    assert (rules["id.unique"]["failing"], rules["id.unique"]["failing_rows"]) == (1, [19_000])
    assert (rules["late.dtype"]["status"], rules["late.dtype"]["observed"]) == ("failed", "string")
    assert rules["x.max"]["failing"] == n // 100 * 9


def test_a_full_disk_for_the_spilled_keys_is_exit_3_naming_the_file(spill_dirs, monkeypatch):
    from mlci.errors import InfraError

    def full(path, mode="r", *a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(duplicates, "open", full, raising=False)
    table = pa.table({"id": list(range(1000))})
    with pytest.raises(InfraError) as err:
        validate(table, {"columns": {"id": {"unique": True}}}, chunk_rows=100)
    assert err.value.exit_code == 3
    assert "No space left on device" in str(err.value) and spill_dirs[0] in str(err.value)
    assert "TMPDIR" in str(err.value)


def test_spill_files_are_removed_when_the_read_fails_midway(mlci, tmp_path):
    """A ragged row after many spilled batches: exit 2, and nothing left in TMPDIR."""
    rows = "".join(f"{i},{i % 7}\n" for i in range(30_000))
    (tmp_path / "d.csv").write_text("id,v\n" + rows + "1,2,3\n")
    (tmp_path / "schema.yaml").write_text("columns:\n  id: {unique: true}\ntable: {no_duplicate_rows: true}\n")
    spill = tmp_path / "tmp"
    spill.mkdir()
    r = mlci("validate", "--data", "d.csv", "--schema", "schema.yaml", "--chunk-rows", "1000",
             cwd=tmp_path, env={"TMPDIR": str(spill)})
    assert r.returncode == 2, r.stderr
    assert "Expected 2 columns, got 3" in r.stderr and "Traceback" not in r.stderr
    assert list(spill.iterdir()) == []
