"""The store contract, run against both backends: LocalStore (a directory) and S3Store, on two
S3 servers (moto and SeaweedFS over HTTP). Every primitive, conditional create races, CAS,
blobs, manifests."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
from s3_fixtures import S3_KINDS, s3_store_env

from mlci.errors import IntegrityError, NotFoundError
from mlci.store import KeyMissing, blob_key, open_store, sha256_file
from mlci import util
from mlci.store import base as store_base
from mlci.store.base import manifest_key
from mlci.util import HashCache


@pytest.fixture(params=["local", *S3_KINDS])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    name, _ = s3_store_env(request.param, monkeypatch)
    return open_store(f"s3://{name}/team/mlci")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_threads(n: int, fn) -> list:
    results: list = [None] * n
    errors: list = []
    barrier = threading.Barrier(n)

    def go(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


# --- primitives ----------------------------------------------------------------------------
def test_bytes_roundtrip_exists_delete(store):
    assert not store.exists("a/b.json")
    store.put_bytes("a/b.json", b'{"x": 1}')
    assert store.exists("a/b.json")
    assert store.get_bytes("a/b.json") == b'{"x": 1}'
    store.put_bytes("a/b.json", b"replaced")
    assert store.get_bytes("a/b.json") == b"replaced"
    store.delete("a/b.json")
    assert not store.exists("a/b.json")
    store.delete("a/b.json")  # deleting what is gone is fine
    with pytest.raises(KeyMissing):
        store.get_bytes("a/b.json")


def test_json_helpers(store):
    store.put_json("models/m/versions/1.json", {"version": 1})
    assert store.get_json("models/m/versions/1.json") == {"version": 1}
    store.put_bytes("bad.json", b"{not json")
    with pytest.raises(IntegrityError, match="bad.json: not valid JSON"):
        store.get_json("bad.json")


def test_list_is_sorted_and_scoped_to_the_prefix(store):
    for key in ["models/b/versions/2.json", "models/a/versions/1.json", "models/ab/x.json", "runs/r1/manifest.json"]:
        store.put_bytes(key, b"{}")
    assert store.list("models/") == ["models/a/versions/1.json", "models/ab/x.json", "models/b/versions/2.json"]
    assert store.list("models/a") == ["models/a/versions/1.json"]  # not models/ab
    assert store.list("nothing/") == []
    infos = store.list_info("models/a")
    assert [(i.key, i.size) for i in infos] == [("models/a/versions/1.json", 2)]
    assert abs(infos[0].mtime - time.time()) < 300


def test_listed_times_are_epoch_seconds_whatever_the_local_time_zone(store, monkeypatch):
    store.put_bytes("leases/gc/x.json", b"{}")
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9: a time read as local would be 9 hours off
    time.tzset()
    try:
        [info] = store.list_info("leases/gc/")
        assert abs(info.mtime - time.time()) < 300
    finally:
        monkeypatch.undo()
        time.tzset()


def test_put_if_absent_creates_once(store):
    assert store.put_if_absent("models/m/versions/1.json", b"first") is True
    assert store.put_if_absent("models/m/versions/1.json", b"second") is False
    assert store.get_bytes("models/m/versions/1.json") == b"first"


def test_put_if_match_is_compare_and_swap(store):
    key = "models/m/aliases/production.json"
    with pytest.raises(KeyMissing):
        store.get_versioned(key)
    assert store.put_if_match(key, b"v1", None) is True
    assert store.put_if_match(key, b"again", None) is False  # None means: only if absent
    data, token = store.get_versioned(key)
    assert data == b"v1"
    assert store.put_if_match(key, b"v2", token) is True
    assert store.put_if_match(key, b"v3", token) is False  # stale token
    assert store.get_bytes(key) == b"v2"
    store.delete(key)
    assert store.put_if_match(key, b"v4", token) is False  # gone: no version matches


def test_conditional_create_race_has_exactly_one_winner(store):
    key = "models/m/versions/7.json"
    wins = run_threads(20, lambda i: store.put_if_absent(key, f"writer {i}".encode()))
    assert wins.count(True) == 1
    winner = wins.index(True)
    assert store.get_bytes(key) == f"writer {winner}".encode()


def test_concurrent_increments_with_cas_lose_nothing(store):
    key = "models/m/counter.json"
    store.put_bytes(key, b"0")

    def increment(_: int) -> int:
        tries = 0
        while True:
            tries += 1
            data, token = store.get_versioned(key)
            if store.put_if_match(key, str(int(data) + 1).encode(), token):
                return tries

    tries = run_threads(20, increment)
    assert store.get_bytes(key) == b"20"
    assert max(tries) >= 1


def test_file_roundtrip_is_atomic_and_leaves_no_temp_files(store, tmp_path):
    src = write(tmp_path / "in" / "model.bin", os.urandom(300_000))
    store.put_file("files/model.bin", src)
    dest = tmp_path / "out" / "model.bin"
    store.get_file("files/model.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(KeyMissing):
        store.get_file("files/missing.bin", tmp_path / "out" / "missing.bin")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.bin"]


# --- blobs and runs ------------------------------------------------------------------------
def test_blob_dedup_second_put_sends_nothing(store, tmp_path):
    src = write(tmp_path / "weights.bin", os.urandom(50_000))
    sha, uploaded = store.put_blob(src)
    assert (sha, uploaded) == (hashlib.sha256(src.read_bytes()).hexdigest(), True)
    assert store.put_blob(src) == (sha, False)
    assert store.exists(blob_key(sha))


def test_corrupt_blob_is_refused_and_removed(store, tmp_path):
    src = write(tmp_path / "weights.bin", b"the real weights")
    sha, _ = store.put_blob(src)
    store.put_bytes(blob_key(sha), b"tampered weights")  # bit rot, or someone overwrote it
    dest = tmp_path / "dl" / "weights.bin"
    with pytest.raises(IntegrityError, match=f"blob {sha[:12]} is corrupt"):
        store.get_blob(sha, dest)
    assert not dest.exists()
    assert list((tmp_path / "dl").iterdir()) == []


def test_missing_blob_is_a_clear_error(store, tmp_path):
    with pytest.raises(NotFoundError, match="blob 0000000000ab is missing"):
        store.get_blob("0000000000ab" + "0" * 52, tmp_path / "x")


def make_run(root: Path, n: int = 6) -> dict[str, Path]:
    files = {f"model/part-{i}.bin": write(root / f"model/part-{i}.bin", os.urandom(10_000 + i)) for i in range(n)}
    files["model/dup.bin"] = write(root / "model/dup.bin", files["model/part-0.bin"].read_bytes())
    files["run.json"] = write(root / "run.json", b'{"run": 1}')
    return files


def test_publish_and_download_run(store, tmp_path):
    files = make_run(tmp_path / "run")
    seen: list[str] = []
    manifest = store.publish_run("r1", files, meta={"model": "m"}, progress=lambda rel, size: seen.append(rel))
    assert manifest["uploaded"] == len(files) - 1  # the duplicate content is stored once
    assert sorted(seen) == sorted(files)
    assert store.get_manifest("r1")["files"]["run.json"]["size"] == 10
    again = store.publish_run("r1", files, meta={"model": "m"})
    assert again["uploaded"] == 0 and again["uploaded_bytes"] == 0
    out = store.download_run("r1", tmp_path / "dl")
    assert sorted(out) == sorted(files)
    for rel, path in files.items():
        assert (tmp_path / "dl" / rel).read_bytes() == path.read_bytes()
    only = store.download_run("r1", tmp_path / "dl2", only=["model/"])
    assert "run.json" not in only and len(only) == len(files) - 1


def aged(path: Path, seconds: float = 60) -> Path:
    """A file last written ``seconds`` ago, as a run's files are by the time it is published."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_the_hash_cache_knows_a_file_by_its_real_path(tmp_path, monkeypatch):
    real = aged(write(tmp_path / "real" / "a.bin", b"a" * 100))
    other = aged(write(tmp_path / "real" / "b.bin", b"b" * 100))
    os.utime(other, ns=(real.stat().st_mtime_ns, real.stat().st_mtime_ns))  # same size and mtime
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "alias.bin").symlink_to(real)
    cache = tmp_path / "hashes.json"
    # a cache as mlci wrote it before (keyed by Path.resolve()): still valid
    cache.write_text(json.dumps({str(real.resolve()): [100, real.stat().st_mtime_ns, sha256_file(real)]}))
    read: list[Path] = []
    monkeypatch.setattr(util, "sha256_file", lambda path: read.append(path) or sha256_file(path))
    monkeypatch.chdir(tmp_path / "real")
    hashes = HashCache(cache)
    for path in (real, tmp_path / "linked" / "a.bin", tmp_path / "alias.bin", Path("a.bin"),
                 tmp_path / "real" / ".." / "real" / "a.bin"):
        assert hashes.lookup(path) == (sha256_file(real), 100) and hashes.sha256(path) == sha256_file(real)
    assert read == []
    (tmp_path / "alias.bin").unlink()
    (tmp_path / "alias.bin").symlink_to(other)  # the link now names another file of the same size and mtime
    assert hashes.lookup(tmp_path / "alias.bin") == (None, 100)
    assert hashes.sha256(tmp_path / "alias.bin") == sha256_file(other) and read == [tmp_path / "alias.bin"]


def test_republish_with_the_hash_cache_reads_only_changed_files(store, tmp_path, monkeypatch):
    files = {rel: aged(path) for rel, path in make_run(tmp_path / "run").items()}
    cache = tmp_path / ".mlci" / "cache" / "hashes.json"
    assert store.publish_run("r1", files, hashes=HashCache(cache))["uploaded"] == len(files) - 1
    read: list[Path] = []
    real = util.sha256_file
    for module in (util, store_base):  # HashCache's and the store's own hashing
        monkeypatch.setattr(module, "sha256_file", lambda path: read.append(path) or real(path))

    again = store.publish_run("r2", files, hashes=HashCache(cache))  # as the next command does: from disk
    assert read == [] and again["uploaded"] == 0
    assert again["files"] == store.get_manifest("r1")["files"]

    write(files["run.json"], b'{"run": 2}')  # same size, new content, written just now
    changed = store.publish_run("r3", files, hashes=HashCache(cache))
    assert read == [files["run.json"]] and changed["uploaded"] == 1
    assert store.get_manifest("r3")["files"]["run.json"]["sha256"] == real(files["run.json"])
    read.clear()
    store.publish_run("r4", files, hashes=HashCache(cache))
    assert read == [files["run.json"]]  # written less than a second before it was hashed: not trusted yet
    read.clear()
    aged(files["run.json"])
    store.publish_run("r5", files, hashes=HashCache(cache))
    store.publish_run("r6", files, hashes=HashCache(cache))
    assert read == [files["run.json"]]  # its new mtime was hashed once, then remembered
    store.download_run("r6", tmp_path / "dl")
    assert (tmp_path / "dl" / "run.json").read_bytes() == b'{"run": 2}'


def test_published_run_is_immutable(store, tmp_path):
    files = make_run(tmp_path / "run", n=1)
    store.publish_run("r1", files)
    write(files["run.json"], b'{"run": "changed"}')
    with pytest.raises(IntegrityError, match="run r1 is already published with other files"):
        store.publish_run("r1", files)


def test_crash_before_manifest_leaves_no_visible_run(store, tmp_path, monkeypatch):
    files = make_run(tmp_path / "run", n=8)
    real_put = store.put_file
    calls = {"n": 0}

    def flaky_put(key, path, callback=None):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk pulled out mid-publish")
        return real_put(key, path, callback=callback)

    monkeypatch.setattr(store, "put_file", flaky_put)
    monkeypatch.setenv("MLCI_STORE_WORKERS", "1")  # deterministic: 3 blobs arrive, then the crash
    with pytest.raises(OSError, match="disk pulled out"):
        store.publish_run("r1", files)
    assert store.list("runs/") == []
    with pytest.raises(NotFoundError, match="run r1 has no manifest"):
        store.get_manifest("r1")
    assert len(store.list("blobs/")) == 3

    monkeypatch.setattr(store, "put_file", real_put)
    manifest = store.publish_run("r1", files)
    assert manifest["uploaded"] == len(files) - 1 - 3  # only what had not arrived
    assert store.exists(manifest_key("r1"))
    store.download_run("r1", tmp_path / "dl")
    assert sha256_file(tmp_path / "dl" / "model/part-7.bin") == sha256_file(files["model/part-7.bin"])
