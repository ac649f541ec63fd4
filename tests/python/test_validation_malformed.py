"""Bad data never crashes the validator: each malformed file is one clear line and exit 2
(or, where the data is readable but wrong, a named rule failure and exit 1)."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def _parquet_bytes(tmp_path) -> bytes:
    pq.write_table(pa.table({"a": list(range(2000)), "b": ["x"] * 2000}), tmp_path / "ok.parquet")
    return (tmp_path / "ok.parquet").read_bytes()


def write_case(name: str, tmp_path) -> str:
    """Create the malformed file for case ``name``; return its file name."""
    good = _parquet_bytes(tmp_path)
    cases = {
        "missing": ("missing.csv", None),
        "empty-csv": ("empty.csv", b""),
        "empty-parquet": ("empty.parquet", b""),
        "truncated-parquet": ("truncated.parquet", good[: len(good) // 2]),
        "corrupt-parquet": ("corrupt.parquet", good[:4] + b"\xab" * (len(good) - 12) + good[-8:]),
        "csv-named-parquet": ("text.parquet", b"a,b\n1,2\n"),
        "ragged-csv": ("ragged.csv", b"a,b\n1,2\n3,4,5\n"),
        "undecodable-bytes": ("latin1.csv", b"a,b\n1,caf\xe9\n2,ok\n"),
        "random-bytes": ("random.csv", os.urandom(4000).replace(b"\n", b"\x00")),
        "duplicate-header": ("dup.csv", b"a,a\n1,2\n"),
        "unsupported-type": ("data.xlsx", b"PK\x03\x04 not really"),
        "directory-without-data": ("emptydir", "dir"),
    }
    fname, content = cases[name]
    if content == "dir":
        (tmp_path / fname).mkdir()
    elif content is not None:
        (tmp_path / fname).write_bytes(content)
    return fname


MALFORMED = {
    "missing": "missing.csv: file not found",
    "empty-csv": "empty.csv: file is empty",
    "empty-parquet": "empty.parquet: cannot read Parquet: not a Parquet file",
    "truncated-parquet": "truncated.parquet: cannot read Parquet: not a Parquet file (or truncated)",
    "corrupt-parquet": "corrupt.parquet: cannot read Parquet",
    "csv-named-parquet": "text.parquet: cannot read Parquet: not a Parquet file",
    "ragged-csv": "ragged.csv: cannot read CSV: CSV parse error: Expected 2 columns, got 3",
    "undecodable-bytes": "latin1.csv: column `b` holds bytes that are not valid UTF-8",
    "random-bytes": "random.csv:",
    "duplicate-header": "dup.csv: duplicate column name `a`",
    "unsupported-type": "data.xlsx: unsupported file type `.xlsx`",
    "directory-without-data": "emptydir: the directory holds no CSV or Parquet files (--data)",
}


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_one_clear_line_and_exit_2(case, chunked, mlci, tmp_path):
    fname = write_case(case, tmp_path)
    (tmp_path / "schema.yaml").write_text("columns:\n  a: {dtype: int}\n")
    extra = ["--chunk-rows", "100"] if chunked else []
    r = mlci("validate", "--data", fname, "--schema", "schema.yaml", *extra, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mlci validate: error: ")
    assert MALFORMED[case] in lines[0]
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_mixed_type_column_is_a_dtype_failure_naming_the_row(mlci, tmp_path):
    # Arrow infers int from the first block; the bad value sits far beyond it
    rows = "".join(f"{i},x\n" for i in range(150_000))
    (tmp_path / "mixed.csv").write_text("a,b\n" + rows + "oops,x\n")
    (tmp_path / "schema.yaml").write_text("columns:\n  a: {dtype: int, min: 0}\n")
    for extra in ([], ["--chunk-rows", "10000"]):
        r = mlci("validate", "--data", "mixed.csv", "--schema", "schema.yaml", "--json", *extra, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        rules = {x["id"]: x for x in json.loads(r.stdout)["datasets"][0]["rules"]}
        assert rules["a.dtype"]["status"] == "failed"
        assert rules["a.dtype"]["failing_rows"] == [150_000]
        assert rules["a.dtype"]["observed"] == "string"
        assert rules["a.min"]["status"] == "skipped"


def test_header_only_file_fails_the_row_count_rule(mlci, tmp_path):
    (tmp_path / "header.csv").write_text("a,b\n")
    r = mlci("validate", "--data", "header.csv", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    rules = {x["id"]: x for x in json.loads(r.stdout)["datasets"][0]["rules"]}
    assert rules["table.min_rows"]["status"] == "failed" and rules["table.min_rows"]["observed"] == 0


def test_bad_reference_statistics_file_is_a_clear_error(mlci, tmp_path):
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "stats.json").write_text('{"not": "stats"}')
    r = mlci("validate", "--data", "d.csv", "--reference-stats", "stats.json", cwd=tmp_path)
    assert r.returncode == 2 and "stats.json: not mlci reference statistics" in r.stderr
    (tmp_path / "stats.json").write_text("{broken")
    r = mlci("validate", "--data", "d.csv", "--reference-stats", "stats.json", cwd=tmp_path)
    assert r.returncode == 2 and "stats.json: not valid JSON" in r.stderr
