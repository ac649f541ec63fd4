"""`mlci fetch` and `mlci gc` through the real CLI, on a local store and on S3 (moto), and a
train -> evaluate -> publish -> fetch -> load run against S3."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from s3_fixtures import S3_KINDS, dead_endpoint, s3_store_env

from mlci.registry import Registry
from mlci.store import blob_key, open_store
from mlci.util import dumps


@pytest.fixture(params=["local", *S3_KINDS])
def where(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """(store URI, environment for the CLI): a local store, moto, SeaweedFS."""
    if request.param == "local":
        return str(tmp_path / "store"), {}
    name, env = s3_store_env(request.param, monkeypatch)
    return f"s3://{name}/mlci", env


def model_dir(root: Path, weights: bytes, shared: bytes = b"shared tokenizer") -> Path:
    """A model directory in mlci's format (checksums in MLmodel.json); content is made up."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.skops").write_bytes(weights)
    (root / "signature.json").write_bytes(b'{"inputs": []}')
    (root / "vocab.txt").write_bytes(shared)
    files = {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in ("model.skops", "signature.json", "vocab.txt")}
    (root / "MLmodel.json").write_bytes(dumps({"format": "skops", "files": files}))
    return root


def publish_version(store, name: str, tmp: Path, weights: bytes, run_id: str | None = None) -> int:
    run_id = run_id or f"run-{name}-{hashlib.sha1(weights).hexdigest()[:8]}"
    mdir = model_dir(tmp / run_id / "model", weights)
    files = {f"model/{p.name}": p for p in mdir.iterdir()}
    files["metrics.json"] = tmp / run_id / "metrics.json"
    files["metrics.json"].write_text('{"auc": 0.9}')
    store.publish_run(run_id, files, {"name": name})
    rec, _ = Registry(store, name).register({"run_id": run_id, "fingerprint": run_id, "blessed": True}, actor="test")
    return rec["version"]


# --- fetch -------------------------------------------------------------------------------
def test_fetch_by_version_and_alias(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    publish_version(store, "bc", tmp_path / "runs", b"weights v1")
    publish_version(store, "bc", tmp_path / "runs", b"weights v2")
    Registry(store, "bc").set_alias("production", 1, actor="test", reason="first")

    r = mlci("fetch", "bc@production", "-o", tmp_path / "out", "--store", uri, "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["version"], out["files"]) == (1, 4)
    assert (tmp_path / "out" / "model.skops").read_bytes() == b"weights v1"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["MLmodel.json", "model.skops", "signature.json", "vocab.txt"]

    # fetching another version replaces the model directory as a whole
    r = mlci("fetch", "bc@2", "-o", tmp_path / "out", env={**env, "MLCI_STORE": uri}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "bc v2 ->" in r.stderr and "sha256 verified" in r.stderr
    assert (tmp_path / "out" / "model.skops").read_bytes() == b"weights v2"
    assert [p.name for p in tmp_path.iterdir() if ".fetch-" in p.name or ".old-" in p.name] == []


def test_fetch_refuses_a_tampered_blob_and_leaves_the_target_alone(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    publish_version(store, "bc", tmp_path / "runs", b"good weights")
    store.put_bytes(blob_key(hashlib.sha256(b"good weights").hexdigest()), b"evil weights")
    r = mlci("fetch", "bc@1", "-o", tmp_path / "out", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2
    assert "is corrupt" in r.stderr
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_fetch_errors_are_one_clear_line(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    publish_version(store, "bc", tmp_path / "runs", b"w")
    r = mlci("fetch", "bc@staging", "-o", tmp_path / "out", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "mlci fetch: error: model `bc` has no alias `staging`" in r.stderr
    r = mlci("fetch", "nope@1", "-o", tmp_path / "out", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "model `nope` is not registered" in r.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    r = mlci("fetch", "bc@1", "-o", tmp_path / "busy", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "is not an empty directory or an earlier fetch" in r.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_fetch_with_the_endpoint_down_exits_3(s3_env, mlci, tmp_path):
    env = {**s3_env, "AWS_ENDPOINT_URL": dead_endpoint(), "AWS_MAX_ATTEMPTS": "1"}
    r = mlci("fetch", "bc@production", "-o", tmp_path / "out", "--store", "s3://bucket/x", env=env, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "cannot reach http://127.0.0.1:" in r.stderr and "gave up after 2 attempts" in r.stderr
    assert "Traceback" not in r.stderr


def test_fetch_from_a_missing_bucket_names_it(s3_env, mlci, tmp_path):
    r = mlci("fetch", "bc@1", "-o", tmp_path / "out", "--store", "s3://no-such-bucket-x/p", env=s3_env, cwd=tmp_path)
    assert r.returncode == 3  # infrastructure that is there but unusable
    assert "bucket 'no-such-bucket-x' does not exist" in r.stderr


# --- gc --------------------------------------------------------------------------------------
def age(store, keys: list[str], seconds: float) -> None:
    """Make objects look old (LocalStore: mtime; S3 has no way to backdate, so tests use --grace 0)."""
    for key in keys:
        path = Path(store.root) / key
        os.utime(path, (time.time() - seconds, time.time() - seconds))


def test_gc_keeps_newest_and_alias_targets_and_deletes_the_rest(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    for i in range(1, 6):
        publish_version(store, "bc", tmp_path / "runs", f"weights v{i}".encode())
    reg = Registry(store, "bc")
    reg.set_alias("production", 1, actor="t", reason=None)
    blobs_before = store.list("blobs/")

    r = mlci("gc", "--keep", "2", "--dry-run", "--store", uri, "--json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["dropped_versions"] == {"bc": [2, 3]}
    assert sorted(plan["kept_versions"]["bc"]) == [1, 4, 5]
    def shas(v: int) -> set[str]:
        return {e["sha256"] for e in store.get_manifest(reg.get(v)["run_id"])["files"].values()}

    gone = (shas(2) | shas(3)) - shas(1) - shas(4) - shas(5)  # weights and MLmodel.json of v2, v3
    assert len(gone) == 4
    assert {b["key"] for b in plan["blobs"]} == {blob_key(s) for s in gone}  # the shared files stay
    assert plan["bytes"] == sum(b["size"] for b in plan["blobs"])
    assert store.list("blobs/") == blobs_before  # a dry run deletes nothing

    r = mlci("gc", "--keep", "2", "--dry-run", "--store", uri, env=env, cwd=tmp_path)
    assert f"would drop versions: bc v2,3; 4 blobs ({plan['bytes']} B)" in r.stderr and "dry run, nothing deleted" in r.stderr

    r = mlci("gc", "--keep", "2", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"dropped versions: bc v2,3; 4 blobs ({plan['bytes']} B), 2 run manifests" in r.stderr
    assert len(store.list("blobs/")) == len(blobs_before) - 4
    for v, alias in ((1, "production"), (4, None), (5, None)):
        out = tmp_path / f"v{v}"
        r = mlci("fetch", f"bc@{alias or v}", "-o", out, "--store", uri, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    r = mlci("fetch", "bc@2", "-o", tmp_path / "v2", "--store", uri, env=env, cwd=tmp_path)
    assert r.returncode == 2 and "bc v2 was garbage-collected on" in r.stderr
    assert [e["version"] for e in reg.history() if e["event"] == "gc"] == [2, 3]
    # nothing more to do the second time
    r = mlci("gc", "--keep", "2", "--store", uri, "--json", env=env, cwd=tmp_path)
    assert json.loads(r.stdout)["blobs_deleted"] == 0


def test_gc_keeps_the_rollback_target(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    for i in range(1, 5):
        publish_version(store, "bc", tmp_path / "runs", f"w{i}".encode())
    reg = Registry(store, "bc")
    reg.set_alias("production", 2, actor="t", reason=None)
    reg.set_alias("production", 3, actor="t", reason=None)
    r = mlci("gc", "--keep", "1", "--dry-run", "--json", "--store", uri, env=env, cwd=tmp_path)
    assert json.loads(r.stdout)["dropped_versions"] == {"bc": [1]}


def test_gc_orphans_wait_for_the_grace_period(where, mlci, tmp_path):
    uri, env = where
    store = open_store(uri)
    publish_version(store, "bc", tmp_path / "runs", b"w1")
    crashed = tmp_path / "crashed.bin"
    crashed.write_bytes(b"half a publish")
    sha, _ = store.put_blob(crashed)  # a publish that died before its manifest
    unregistered = tmp_path / "unregistered.bin"
    unregistered.write_bytes(b"published, never registered")
    store.publish_run("run-died-before-register", {"model/x.bin": unregistered})
    r = mlci("gc", "--dry-run", "--json", "--store", uri, env=env, cwd=tmp_path)
    assert json.loads(r.stdout)["blobs"] == []  # young: maybe still uploading
    r = mlci("gc", "--grace", "0", "--json", "--store", uri, env=env, cwd=tmp_path)
    out = json.loads(r.stdout)
    unreg_key = blob_key(hashlib.sha256(unregistered.read_bytes()).hexdigest())
    assert {b["key"]: b["reason"] for b in out["blobs"]} == {
        blob_key(sha): "orphan (no manifest lists it)", unreg_key: "only dropped runs list it"}
    assert out["manifests"] == ["run-died-before-register"]
    assert not store.exists(blob_key(sha)) and not store.exists(unreg_key)
    assert store.list("runs/run-died-before-register/") == []
    assert mlci("fetch", "bc@1", "-o", tmp_path / "o", "--store", uri, env=env, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("kind", S3_KINDS)
def test_gc_aborts_old_unfinished_multipart_uploads(kind, monkeypatch, mlci, tmp_path):
    bucket, s3_env = s3_store_env(kind, monkeypatch)
    store = open_store(f"s3://{bucket}/mlci")
    store.client.create_multipart_upload(Bucket=bucket, Key="mlci/" + blob_key("cd" * 32))
    r = mlci("gc", "--grace", "0", "--store", f"s3://{bucket}/mlci", env=s3_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 unfinished uploads" in r.stderr
    assert store.list_incomplete_uploads() == []


def test_gc_rejects_bad_options(mlci, tmp_path):
    r = mlci("gc", "--keep", "0", "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert r.returncode == 2 and "keep at least 1 version" in r.stderr
    r = mlci("gc", "--grace", "soon", "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert r.returncode == 2 and "--grace 'soon': expected a duration" in r.stderr


# --- the real pipeline on S3 -----------------------------------------------------------------
@pytest.mark.parametrize("kind", S3_KINDS)
def test_train_evaluate_publish_to_s3_then_fetch_and_load(kind, monkeypatch, mlci, tmp_path):
    bucket, s3_env = s3_store_env(kind, monkeypatch)
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "mlci.yaml").write_text(
        "name: bc\ntask: classification\ndata: {train: data/train.csv, target: target}\n"
        "model: {estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 3}}\n"
        f"evaluate: {{metrics: [accuracy], baseline: null}}\nstore: {{uri: 's3://{bucket}/team'}}\n")
    for stage in ("train", "evaluate"):
        r = mlci(stage, cwd=tmp_path, env=s3_env)
        assert r.returncode == 0, r.stderr
    r = mlci("publish", "--json", cwd=tmp_path, env=s3_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == 1
    store = open_store(f"s3://{bucket}/team")
    assert store.list("models/bc/versions/") == ["models/bc/versions/1.json"]

    r = mlci("fetch", "bc@latest", "-o", tmp_path / "served", cwd=tmp_path, env=s3_env)
    assert r.returncode == 0, r.stderr
    from mlci import model as model_io

    model = model_io.load(tmp_path / "served")
    assert list(model.predict(frame.drop(columns=["target"]).head(5))) == list(frame["target"].head(5))
