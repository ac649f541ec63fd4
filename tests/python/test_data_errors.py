"""Bad data: every case is one clear line, exit 2, nothing written to the runs."""

import pytest

from projects import write_config

CONFIG = {"name": "t", "task": "classification", "data": {"train": "data/train.csv", "target": "y"},
          "model": {"params": {"n_estimators": 5}}}


def project(tmp_path, content: bytes | None, name="train.csv", is_dir=False, **data):
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / name
    if is_dir:
        target.mkdir()
    elif content is not None:
        target.write_bytes(content)
    cfg = {**CONFIG, "data": {**CONFIG["data"], "train": f"data/{name}", **data}}
    write_config(tmp_path, cfg)


GOOD = b"a,b,y\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(40))

CASES = [
    ("missing file", None, "train.csv", {}, "data/train.csv: file not found (data.train)"),
    ("directory", b"", "train.csv", {"is_dir": True}, "data/train.csv: the directory holds no CSV or Parquet files (data.train)"),
    ("empty file", b"", "train.csv", {}, "data/train.csv: file is empty (data.train)"),
    ("header only", b"a,b,y\n", "train.csv", {}, "data/train.csv: has a header but no rows"),
    ("ragged rows", b"a,b,y\n1,2,0\n3,4,1,9,9\n5,6,0\n", "train.csv", {}, "data/train.csv: malformed CSV: Expected 3 fields in line 3, saw 5"),
    ("corrupt parquet", b"PAR1 this is not parquet", "train.parquet", {}, "data/train.parquet: not a readable Parquet file"),
    ("duplicate columns", b"a,a,y\n1,2,0\n3,4,1\n", "train.csv", {}, "data/train.csv: duplicate column names: a"),
    ("undecodable bytes", b"a,b,y\n1,\xff\xfe,0\n", "train.csv", {}, "data/train.csv: not UTF-8 text"),
    ("missing target", GOOD.replace(b",y\n", b",z\n", 1), "train.csv", {}, "target column `y` not found"),
    ("single class", b"a,b,y\n" + b"".join(f"{i},{i},1\n".encode() for i in range(20)), "train.csv", {},
     "target column `y` has a single class (1); classification needs at least two"),
    ("all-NaN target", b"a,b,y\n" + b"".join(f"{i},{i},\n".encode() for i in range(20)), "train.csv", {},
     "target column `y` has no values (all missing)"),
    ("unsupported type", b"whatever", "train.xlsx", {}, "data/train.xlsx: unsupported file type '.xlsx'"),
    ("missing test file", GOOD, "train.csv", {"test": "data/nope.csv"}, "data/nope.csv: file not found (data.test)"),
]


@pytest.mark.parametrize("label,content,name,extra,message", CASES, ids=[c[0] for c in CASES])
def test_bad_data(tmp_path, mlci, label, content, name, extra, message):
    is_dir = extra.pop("is_dir", False)
    project(tmp_path, content, name, is_dir=is_dir, **extra)
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / ".mlci" / "runs").glob("*/run.json"))


def test_regression_target_must_be_numeric(tmp_path, mlci):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,y\n" + "".join(f"{i},v{i}\n" for i in range(30)))
    write_config(tmp_path, {"name": "r", "task": "regression", "data": {"train": "data/train.csv", "target": "y"}})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert "target column `y` is not numeric" in r.stderr


def test_unknown_feature_column_names_the_field(tmp_path, mlci):
    project(tmp_path, GOOD, features={"exclude": ["patient"]})
    r = mlci("train", cwd=tmp_path)
    assert r.returncode == 2
    assert "data.features.exclude[0]: column `patient` is not in" in r.stderr
