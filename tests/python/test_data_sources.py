"""Data where teams keep it: local directories of files (hive `key=value/` partitions), globs, and
the same in object storage (moto and SeaweedFS over HTTP). Training, the fingerprint from the
listing (no data downloaded when nothing changed), lineage of the exact objects read, reproduce
of old object versions, validation, and one clear line for every bad source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import breast_cancer_frame, classification_project
from s3_fixtures import S3_KINDS, FaultProxy, dead_endpoint, s3_store_env

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def set_data(cfg: Path, **data: Any) -> None:
    config = yaml.safe_load(cfg.read_text())
    config["data"].update(data)
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))


def partitioned(frame: Any, column: str = "region") -> dict[str, Any]:
    """The frame cut into three hive partitions region=a|b|c (the column lives in the folder name)."""
    frame = frame.copy()
    frame[column] = ["a", "b", "c"] * (len(frame) // 3) + ["a"] * (len(frame) % 3)
    return {f"{column}={v}/part-0.parquet": g.drop(columns=[column]) for v, g in frame.groupby(column)}


def write_partitions(events: Path) -> None:
    for name, part in partitioned(breast_cancer_frame()).items():
        (events / name).parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(events / name, index=False)


def run_json(root: Path) -> dict[str, Any]:
    latest = (root / ".mlci" / "runs" / "LATEST").read_text().strip()
    return json.loads((root / ".mlci" / "runs" / latest / "run.json").read_text())


def data_json(root: Path) -> dict[str, Any]:
    latest = (root / ".mlci" / "runs" / "LATEST").read_text().strip()
    return json.loads((root / ".mlci" / "runs" / latest / "data.json").read_text())


def one_line_error(r: Any, code: int, *needles: str) -> None:
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = [x for x in r.stderr.strip().splitlines() if x.strip()][-1]
    for needle in needles:
        assert needle in line, line


# --- local directories and globs ----------------------------------------------------------
def test_a_local_partitioned_directory_trains_with_its_partition_column(tmp_path, mlci):
    cfg = classification_project(tmp_path)
    write_partitions(tmp_path / "data" / "events")
    (tmp_path / "data" / "events" / "_SUCCESS").write_text("")
    set_data(cfg, train="data/events/")
    r = mlci("train", "-c", cfg, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = run_json(tmp_path)
    assert "region" in info["features"]
    assert info["data"]["train"]["kind"] == "local" and info["data"]["train"]["parts"] == 3
    parts = data_json(tmp_path)["train"]
    assert [p["name"] for p in parts] == ["region=a/part-0.parquet", "region=b/part-0.parquet",
                                          "region=c/part-0.parquet"]
    assert all(len(p["sha256"]) == 64 for p in parts)
    assert info["n_train"] + info["n_test"] == 569


def test_a_glob_of_csv_files_trains_the_same_model_as_the_whole_file(tmp_path, mlci):
    frame = breast_cancer_frame()
    whole = tmp_path / "whole"
    cfg_whole = classification_project(whole)
    globbed = tmp_path / "globbed"
    cfg_glob = classification_project(globbed)
    (globbed / "data" / "train.csv").unlink()
    frame.iloc[:300].to_csv(globbed / "data" / "2026-11-01.csv", index=False)
    frame.iloc[300:].to_csv(globbed / "data" / "2026-11-02.csv", index=False)
    (globbed / "data" / "notes.md").write_text("not data")
    set_data(cfg_glob, train="data/2026-*.csv")
    for cfg, root in ((cfg_whole, whole), (cfg_glob, globbed)):
        r = mlci("train", "-c", cfg, cwd=root)
        assert r.returncode == 0, r.stderr
    import pandas as pd

    from mlci.model import load_any

    test = pd.read_csv(whole / "data" / "train.csv").drop(columns=["diagnosis"])
    a = load_any(whole / ".mlci" / "runs" / (whole / ".mlci/runs/LATEST").read_text().strip() / "model", [])
    b = load_any(globbed / ".mlci" / "runs" / (globbed / ".mlci/runs/LATEST").read_text().strip() / "model", [])
    assert (a.predict(test) == b.predict(test)).all()
    assert [p["name"] for p in data_json(globbed)["train"]] == ["2026-11-01.csv", "2026-11-02.csv"]


def test_a_changed_partition_retrains_and_an_unchanged_one_does_not(tmp_path, mlci):
    cfg = classification_project(tmp_path)
    events = tmp_path / "data" / "events"
    write_partitions(events)
    set_data(cfg, train="data/events")
    assert mlci("train", "-c", cfg, cwd=tmp_path).returncode == 0
    first = run_json(tmp_path)["run_id"]
    again = mlci("train", "-c", cfg, "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["status"] == "up to date", again.stdout
    import pandas as pd

    b = pd.read_parquet(events / "region=b" / "part-0.parquet")
    b.iloc[:20].to_parquet(events / "region=b" / "part-0.parquet", index=False)
    changed = mlci("train", "-c", cfg, "--json", cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    out = json.loads(changed.stdout)
    assert out["run_id"] != first
    assert out["retrain_reasons"] == ["data.train changed"]


@pytest.mark.parametrize("layout, needles", [
    ("empty-dir", ["data/events", "holds no CSV or Parquet files", "data.train"]),
    ("no-match", ["data/2026-*.csv", "no CSV or Parquet file matches"]),
    ("mixed-types", ["mixed schemas", "`radius`", "int64", "string"]),
    ("mixed-columns", ["mixed schemas", "x=2/part.parquet has extra"]),
    ("mixed-formats", ["mixes CSV", "Parquet"]),
])
def test_a_bad_local_source_is_one_line_and_exit_2(tmp_path, mlci, layout, needles):
    import pandas as pd

    cfg = classification_project(tmp_path)
    events = tmp_path / "data" / "events"
    events.mkdir(parents=True)
    spec = "data/events/"
    if layout == "no-match":
        spec = "data/2026-*.csv"
    elif layout == "mixed-types":
        (events / "x=1").mkdir()
        (events / "x=2").mkdir()
        pd.DataFrame({"radius": [1, 2], "diagnosis": [0, 1]}).to_parquet(events / "x=1" / "part.parquet")
        pd.DataFrame({"radius": ["1", "2"], "diagnosis": [0, 1]}).to_parquet(events / "x=2" / "part.parquet")
    elif layout == "mixed-columns":
        (events / "x=1").mkdir()
        (events / "x=2").mkdir()
        pd.DataFrame({"radius": [1, 2], "diagnosis": [0, 1]}).to_parquet(events / "x=1" / "part.parquet")
        pd.DataFrame({"radius": [1, 2], "extra": [3, 4], "diagnosis": [0, 1]}).to_parquet(
            events / "x=2" / "part.parquet")
    elif layout == "mixed-formats":
        pd.DataFrame({"radius": [1, 2], "diagnosis": [0, 1]}).to_parquet(events / "a.parquet")
        pd.DataFrame({"radius": [1, 2], "diagnosis": [0, 1]}).to_csv(events / "b.csv", index=False)
    set_data(cfg, train=spec)
    r = mlci("train", "-c", cfg, cwd=tmp_path)
    if layout == "mixed-columns":
        needles = ["mixed schemas", "extra"]
    one_line_error(r, 2, *needles)
    assert not (tmp_path / ".mlci" / "runs" / "LATEST").exists()


def test_validate_reads_a_partitioned_directory_chunk_by_chunk(tmp_path, mlci):
    cfg = classification_project(tmp_path)
    events = tmp_path / "data" / "events"
    write_partitions(events)
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump({"columns": {
        "region": {"dtype": "string", "allowed": ["a", "b"]}, "patient_id": {"unique": True}}}))
    for chunk in ([], ["--chunk-rows", "50"]):
        r = mlci("validate", "--data", "data/events/", "--schema", "schema.yaml", "--no-drift", "--json",
                 *chunk, cwd=tmp_path)
        assert r.returncode == 1, r.stdout + r.stderr
        out = json.loads(r.stdout)
        failed = {f["name"] for f in out["failures"]}
        assert any("region" in name for name in failed), failed
        assert not any("patient_id" in name for name in failed), failed


# --- object storage (moto and SeaweedFS over HTTP) ------------------------------------------
def parquet_bytes(frame: Any) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def s3_client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture(params=S3_KINDS)
def s3_data(request, monkeypatch):
    """(bucket, env for the CLI pointing at a counting proxy in front of the server, the proxy)."""
    bucket, env = s3_store_env(request.param, monkeypatch)
    proxy = FaultProxy(env["AWS_ENDPOINT_URL"])
    client = s3_client(env)
    env = dict(env, AWS_ENDPOINT_URL=proxy.url)
    try:
        yield bucket, env, proxy, client
    finally:
        proxy.close()


def upload_partitions(client: Any, bucket: str, prefix: str, frame: Any) -> None:
    for name, part in partitioned(frame).items():
        client.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=parquet_bytes(part))
    client.put_object(Bucket=bucket, Key=f"{prefix}_SUCCESS", Body=b"")


def data_gets(proxy: FaultProxy, bucket: str, prefix: str) -> int:
    return sum(1 for m, p in proxy.requests if m == "GET" and p.startswith(f"/{bucket}/{prefix}"))


def test_an_s3_prefix_trains_an_unchanged_rerun_lists_only_and_a_changed_object_retrains(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    cfg = classification_project(tmp_path)
    set_data(cfg, train=f"s3://{bucket}/events/")
    r = mlci("train", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    info = run_json(tmp_path)
    assert "region" in info["features"] and info["data"]["train"]["kind"] == "s3"
    parts = data_json(tmp_path)["train"]
    assert [p["key"] for p in parts] == [f"events/region={v}/part-0.parquet" for v in "abc"]
    assert data_gets(proxy, bucket, "events/") >= 3

    proxy.requests.clear()
    again = mlci("train", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert json.loads(again.stdout)["status"] == "up to date", again.stdout + again.stderr
    assert data_gets(proxy, bucket, "events/") == 0, proxy.requests
    assert proxy.count("GET") == 1 and proxy.count("HEAD") == 0, proxy.requests  # the one LIST

    frame = breast_cancer_frame()
    b = partitioned(frame)["region=b/part-0.parquet"]
    put = client.put_object(Bucket=bucket, Key="events/region=b/part-0.parquet", Body=parquet_bytes(b.iloc[:40]))
    changed = mlci("train", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["retrain_reasons"] == ["data.train changed"]
    new_parts = {p["name"]: p for p in data_json(tmp_path)["train"]}
    assert new_parts["region=b/part-0.parquet"]["etag"] == put["ETag"].strip('"')
    assert new_parts["region=a/part-0.parquet"]["etag"] == parts[0]["etag"]


def test_reproduce_on_a_versioned_bucket_reads_the_old_versions(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    cfg = classification_project(tmp_path)
    set_data(cfg, train=f"s3://{bucket}/events/")
    r = mlci("run", "-c", cfg, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    parts = data_json(tmp_path)["train"]
    assert all(p.get("version_id") for p in parts), parts
    proxy.requests.clear()
    again = mlci("run", "-c", cfg, cwd=tmp_path, env=env)  # the nightly run with nothing new: lists only
    assert again.returncode == 0 and "up to date" in again.stdout + again.stderr, again.stdout + again.stderr
    assert data_gets(proxy, bucket, "events/") == 0, proxy.requests
    # the data moves on: one partition rewritten, one added
    frame = breast_cancer_frame()
    client.put_object(Bucket=bucket, Key="events/region=a/part-0.parquet",
                      Body=parquet_bytes(partitioned(frame)["region=a/part-0.parquet"].iloc[:30]))
    client.put_object(Bucket=bucket, Key="events/region=d/part-0.parquet",
                      Body=parquet_bytes(partitioned(frame)["region=b/part-0.parquet"]))
    out = mlci("reproduce", "bc@1", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["identical"] is True
    assert json.loads(out.stdout)["fingerprint_now"] == json.loads(out.stdout)["fingerprint_recorded"]


def test_reproduce_says_why_not_when_an_unversioned_bucket_changed(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    cfg = classification_project(tmp_path)
    set_data(cfg, train=f"s3://{bucket}/events/")
    assert mlci("run", "-c", cfg, cwd=tmp_path, env=env).returncode == 0
    unchanged = mlci("reproduce", "bc@1", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert unchanged.returncode == 0 and json.loads(unchanged.stdout)["identical"] is True, unchanged.stderr
    client.put_object(Bucket=bucket, Key="events/region=c/part-0.parquet",
                      Body=parquet_bytes(partitioned(breast_cancer_frame())["region=c/part-0.parquet"].iloc[:10]))
    r = mlci("reproduce", "bc@1", "-c", cfg, cwd=tmp_path, env=env)
    one_line_error(r, 2, "region=c/part-0.parquet", "changed since training", "versioning", "keep_data")


def test_data_status_sees_a_change_from_the_listing_and_marks(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    cfg = classification_project(tmp_path)
    set_data(cfg, train=f"s3://{bucket}/events/")
    first = mlci("data", "status", "-c", cfg, "--exit-code", "--json", cwd=tmp_path, env=env)
    assert first.returncode == 1 and json.loads(first.stdout)["since"] is None, first.stdout + first.stderr
    assert mlci("data", "status", "-c", cfg, "--mark", cwd=tmp_path, env=env).returncode == 0
    proxy.requests.clear()
    same = mlci("data", "status", "-c", cfg, "--exit-code", cwd=tmp_path, env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "unchanged since the last mark" in same.stderr and "3 files" in same.stderr
    assert data_gets(proxy, bucket, "events/") == 0
    client.put_object(Bucket=bucket, Key="events/region=d/part-0.parquet",
                      Body=parquet_bytes(partitioned(breast_cancer_frame())["region=b/part-0.parquet"]))
    changed = mlci("data", "status", "-c", cfg, "--exit-code", "--json", cwd=tmp_path, env=env)
    assert changed.returncode == 1
    out = json.loads(changed.stdout)
    assert out["since"] == "mark" and out["sources"]["train"]["changes"] == ["region=d/part-0.parquet added"]


def test_validate_and_schema_read_an_s3_prefix(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    r = mlci("validate", "--data", f"s3://{bucket}/events/", "--no-drift", "--chunk-rows", "100", "--json",
             cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["datasets"][0]["rows"] == 569
    shifted = breast_cancer_frame()
    shifted["mean_radius"] = shifted["mean_radius"] * 3
    upload_partitions(client, bucket, "shifted/", shifted)
    drift = mlci("validate", "--data", f"s3://{bucket}/shifted/", "--reference", f"s3://{bucket}/events/",
                 "--chunk-rows", "100", "--json", cwd=tmp_path, env=env)
    assert drift.returncode == 0, drift.stdout + drift.stderr  # drift warns by default
    result = json.loads(drift.stdout)
    assert [c["column"] for c in result["drift"]["columns"] if c["drifted"]] == ["mean_radius"], result["drift"]
    inferred = mlci("schema", "infer", "--data", f"s3://{bucket}/events/", "-o", "schema.yaml", cwd=tmp_path, env=env)
    assert inferred.returncode == 0, inferred.stderr
    columns = yaml.safe_load((tmp_path / "schema.yaml").read_text())["columns"]
    assert set(columns["region"]["allowed"]) == {"a", "b", "c"}
    stats = mlci("schema", "stats", "--data", f"s3://{bucket}/events/", "-o", "stats.json", "--chunk-rows", "64",
                 "--json", cwd=tmp_path, env=env)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["rows"] == 569 and "region" in json.loads(stats.stdout)["columns"]


@pytest.mark.parametrize("case", ["missing-bucket", "empty-prefix", "no-credentials", "unreachable", "mixed-columns"])
def test_a_bad_s3_source_is_one_line(tmp_path, mlci, s3_data, case):
    bucket, env, proxy, client = s3_data
    cfg = classification_project(tmp_path)
    spec, code, needles = f"s3://{bucket}/events/", 2, []
    if case == "missing-bucket":
        spec, needles = "s3://no-such-bucket-here/events/", ["no-such-bucket-here", "does not exist", "data.train"]
    elif case == "empty-prefix":
        client.put_object(Bucket=bucket, Key="other/x.parquet", Body=b"PAR1")
        needles = [spec, "no objects", "data.train"]
    elif case == "no-credentials":
        env = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
        env.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                   AWS_CONFIG_FILE="/nonexistent", AWS_EC2_METADATA_DISABLED="true")
        needles = [spec, "credentials"]
    elif case == "unreachable":
        env = dict(env, AWS_ENDPOINT_URL=dead_endpoint(), AWS_MAX_ATTEMPTS="1")
        code, needles = 3, ["cannot reach"]
    elif case == "mixed-columns":
        # also: an error raised while Arrow tables are held must not abort the interpreter's exit
        # afterwards (exit -6, "terminate called without an active exception"; it did about 1 run in 12)
        import pandas as pd

        client.put_object(Bucket=bucket, Key="events/x=1/p.parquet",
                          Body=parquet_bytes(pd.DataFrame({"radius": [1, 2], "diagnosis": [0, 1]})))
        client.put_object(Bucket=bucket, Key="events/x=2/p.parquet", Body=parquet_bytes(
            pd.DataFrame({"radius": [1, 2], "extra": [3, 4], "diagnosis": [0, 1]})))
        needles = [spec, "mixed schemas", "x=2/p.parquet has extra"]
    set_data(cfg, train=spec)
    r = mlci("train", "-c", cfg, cwd=tmp_path, env=env)
    one_line_error(r, code, *needles)


def test_training_in_a_container_gets_the_s3_settings_only_for_object_storage(tmp_path, monkeypatch):
    from mlci import config as config_mod
    from mlci.runs import Project
    from mlci.trainers.container import forwarded_env

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.internal:9000")
    cfg = classification_project(tmp_path)
    assert "AWS_SECRET_ACCESS_KEY" not in forwarded_env(Project(config_mod.load(cfg)))
    set_data(cfg, train="s3://team-data/events/")
    env = forwarded_env(Project(config_mod.load(cfg)))
    assert env["AWS_SECRET_ACCESS_KEY"] == "secret" and env["AWS_ENDPOINT_URL"] == "http://minio.internal:9000"


def test_keep_data_copies_the_objects_read_and_reproduce_uses_the_copy(tmp_path, mlci, s3_data):
    bucket, env, proxy, client = s3_data
    upload_partitions(client, bucket, "events/", breast_cancer_frame())
    cfg = classification_project(tmp_path, store={"uri": ".mlci/store", "keep_data": True})
    set_data(cfg, train=f"s3://{bucket}/events/")
    r = mlci("run", "-c", cfg, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    client.delete_object(Bucket=bucket, Key="events/region=a/part-0.parquet")  # gone from the bucket
    out = mlci("reproduce", "bc@1", "-c", cfg, "--json", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["identical"] is True
    shown = mlci("registry", "show", "bc@1", "-c", cfg, "--json", cwd=tmp_path, env=env)
    lineage = json.loads(shown.stdout)["lineage"]["data"]["train"]
    assert lineage["kind"] == "s3" and lineage["parts"] == 3 and lineage["path"] == f"s3://{bucket}/events/"


def test_data_status_of_a_local_directory_ignores_a_touch_and_names_a_changed_file(tmp_path, mlci):
    import os

    cfg = classification_project(tmp_path)
    events = tmp_path / "data" / "events"
    write_partitions(events)
    set_data(cfg, train="data/events/")
    assert mlci("data", "status", "-c", cfg, "--mark", cwd=tmp_path).returncode == 0
    b = events / "region=b" / "part-0.parquet"
    os.utime(b, (b.stat().st_atime + 100, b.stat().st_mtime + 100))
    touched = mlci("data", "status", "-c", cfg, "--exit-code", cwd=tmp_path)
    assert touched.returncode == 0, touched.stdout + touched.stderr
    import pandas as pd

    pd.read_parquet(b).iloc[:5].to_parquet(b, index=False)
    changed = mlci("data", "status", "-c", cfg, "--exit-code", "--json", cwd=tmp_path)
    assert changed.returncode == 1
    assert json.loads(changed.stdout)["sources"]["train"]["changes"] == ["region=b/part-0.parquet changed"]



def test_data_status_without_a_mark_compares_with_the_latest_version_and_a_broken_mark_is_one_line(tmp_path, mlci):
    cfg = classification_project(tmp_path)
    events = tmp_path / "data" / "events"
    write_partitions(events)
    set_data(cfg, train="data/events/")
    assert mlci("run", "-c", cfg, cwd=tmp_path).returncode == 0  # registers bc v1
    same = mlci("data", "status", "-c", cfg, "--exit-code", "--json", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["since"] == "v1"
    import pandas as pd

    b = events / "region=b" / "part-0.parquet"
    pd.read_parquet(b).iloc[:5].to_parquet(b, index=False)
    changed = mlci("data", "status", "-c", cfg, "--exit-code", "--json", cwd=tmp_path)
    assert changed.returncode == 1
    out = json.loads(changed.stdout)
    assert out["since"] == "v1" and out["sources"]["train"]["changes"] == ["region=b/part-0.parquet changed"]
    (tmp_path / ".mlci" / "store" / "models" / "bc" / "data-mark.json").write_text("not json")
    broken = mlci("data", "status", "-c", cfg, cwd=tmp_path)
    one_line_error(broken, 2, "data-mark.json", "is not a data mark", "--mark")
