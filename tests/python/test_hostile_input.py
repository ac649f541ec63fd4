"""Input an attacker or a careless operator writes gets one line and exit 2 (or 3), never a hang
or an "internal error": a YAML alias bomb, references and records that try to leave the store,
records of the wrong JSON type, nested Parquet columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.registry import Registry
from mlci.store import open_store
from mlci.util import dumps
from projects import write_config


def one_error_line(r, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


BOMB = """name: bc
task: classification
data: {train: data/train.csv, target: y}
model:
  params:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("command", [("train",), ("config", "show")])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, mlci, command):
    assert len(BOMB) < 1024
    (tmp_path / "mlci.yaml").write_text(BOMB)
    r = mlci(*command, cwd=tmp_path, timeout=30)
    line = one_error_line(r)
    assert "mlci.yaml: invalid YAML: its aliases expand to more than 100,000 values" in line


def test_ordinary_aliases_still_work(tmp_path, mlci):
    (tmp_path / "mlci.yaml").write_text(
        "name: bc\ntask: classification\ndata: {train: data/train.csv, target: y}\n"
        "split: &s {test_size: 0.3, seed: 1}\nmodel: {params: {grid: &g [1, 2, 3], again: *g}}\n")
    r = mlci("config", "show", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"]["params"]["again"] == [1, 2, 3]


# --- references and records ------------------------------------------------------------------
@pytest.mark.parametrize("ref", ["../x@1", "x@../../etc", "x/../y@1", "bc@..", "bc@prod/../../x"])
def test_references_that_leave_the_store_are_usage_errors(tmp_path, mlci, ref):
    r = mlci("fetch", ref, "-o", tmp_path / "out", "--store", tmp_path / "store", cwd=tmp_path)
    assert "model reference" in one_error_line(r)


def seeded(tmp_path: Path) -> tuple[str, Registry]:
    uri = str(tmp_path / "store")
    store = open_store(uri)
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    store.publish_run("r1", {"model/w.bin": f})
    reg = Registry(store, "bc")
    reg.register({"run_id": "r1", "fingerprint": "f1", "blessed": True}, actor="t")
    reg.register({"run_id": "r1", "fingerprint": "f2", "blessed": True}, actor="t")
    reg.set_alias("production", 1, actor="t", reason="t")
    return uri, reg


BAD_RECORDS = [
    ("alias is a list", "models/bc/aliases/production.json", b"[1, 2]", "is a JSON list, expected an object"),
    ("alias version is text", "models/bc/aliases/production.json", b'{"version": "1"}', "`version` is '1'"),
    ("alias history not numbers", "models/bc/aliases/production.json", b'{"version": 1, "history": {"a": 1}}',
     "expected a list of version numbers"),
    ("version is a string", "models/bc/versions/1.json", b'"v1"', "is a JSON str, expected an object"),
    ("version record null", "models/bc/versions/1.json", b"null", "is a JSON NoneType, expected an object"),
    ("run_id with ..", "models/bc/versions/1.json", dumps({"version": 1, "run_id": "../../etc"}),
     "is not a valid run id"),
    ("run_id not a string", "models/bc/versions/1.json", dumps({"version": 1, "run_id": ["r1"]}), "bad run_id"),
]


@pytest.mark.parametrize("label,key,data,message", BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_records_of_the_wrong_shape_are_one_line_exit_2(tmp_path, mlci, label, key, data, message):
    uri, reg = seeded(tmp_path)
    reg.store.put_bytes(key, data)
    for args in (("fetch", "bc@production", "-o", tmp_path / "out"), ("rollback", "bc"),
                 ("promote", "bc", "1"), ("registry", "list", "bc")):
        r = mlci(*args, "--store", uri, cwd=tmp_path)
        line = one_error_line(r)
        assert "registry record" in line or "has no previous version" in line or "run id" in line, line
    r = mlci("fetch", "bc@production" if "aliases" in key else "bc@1", "-o", tmp_path / "o2", "--store", uri,
             cwd=tmp_path)
    assert message in one_error_line(r)


def test_a_manifest_naming_a_blob_outside_the_store_is_refused(tmp_path, mlci):
    uri, reg = seeded(tmp_path)
    manifest = reg.store.get_json("runs/r1/manifest.json")
    manifest["files"]["model/w.bin"]["sha256"] = "../../../../etc/passwd" + "0" * 42
    reg.store.put_bytes("runs/r1/manifest.json", dumps(manifest))
    r = mlci("fetch", "bc@1", "-o", tmp_path / "out", "--store", uri, cwd=tmp_path)
    assert "is not 64 hex digits" in one_error_line(r)
    assert not (tmp_path / "out").exists()


# --- data -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["struct", "list"])
def test_parquet_with_nested_columns_is_a_data_error(tmp_path, mlci, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 40
    nested = (pa.array([{"x": i, "y": -i} for i in range(rows)]) if kind == "struct"
              else pa.array([[i, i + 1] for i in range(rows)]))
    table = pa.table({"a": list(range(rows)), "n": nested, "y": [i % 2 for i in range(rows)]})
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train.parquet")
    write_config(tmp_path, {"name": "t", "task": "classification",
                            "data": {"train": "data/train.parquet", "target": "y"}})
    r = mlci("train", cwd=tmp_path)
    line = one_error_line(r)
    assert "data/train.parquet: nested columns are not supported: `n` (" in line
