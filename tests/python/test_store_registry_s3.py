"""The registry's concurrency guarantees on S3 (moto and SeaweedFS over HTTP): the same checks
as test_registry.py runs on a local store, with processes and CLI calls racing on one bucket."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from s3_fixtures import S3_KINDS, s3_store_env

from mlci.registry import Registry
from mlci.store import open_store


def _publish_one_s3(args: tuple[str, str, int, dict[str, str]]) -> tuple[int, bool]:
    uri, tmp, i, env = args
    import os

    os.environ.update(env)
    store = open_store(uri)
    f = Path(tmp) / f"file-{i}.bin"
    f.write_bytes(f"payload {i}".encode())
    store.publish_run(f"run-{i}", {"model/file.bin": f})
    rec, created = Registry(store, "m").register(
        {"run_id": f"run-{i}", "fingerprint": f"fp-{i}", "blessed": True}, actor=f"worker-{i}")
    return rec["version"], created


@pytest.fixture(params=S3_KINDS)
def bucket_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    return s3_store_env(request.param, monkeypatch)


def test_registry_twenty_concurrent_publishing_processes_get_distinct_versions_on_s3(bucket_env, tmp_path):
    """The registry's concurrency test (test_registry.py), with 20 processes against S3."""
    import multiprocessing as mp

    bucket, env = bucket_env
    uri = f"s3://{bucket}/mlci"
    with mp.get_context("spawn").Pool(20) as pool:
        results = pool.map(_publish_one_s3, [(uri, str(tmp_path), i, env) for i in range(20)])
    assert sorted(v for v, _ in results) == list(range(1, 21))
    reg = Registry(open_store(uri), "m")
    assert reg.version_numbers() == list(range(1, 21))
    assert sorted(e["version"] for e in reg.history() if e["event"] == "register") == list(range(1, 21))
    assert {r["run_id"] for r in reg.versions()} == {f"run-{i}" for i in range(20)}


def test_registry_twenty_concurrent_cli_promotions_on_s3(bucket_env, tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    bucket, s3_env = bucket_env
    uri = f"s3://{bucket}/mlci"
    reg = Registry(open_store(uri), "m")
    for i in range(20):
        reg.register({"run_id": f"r{i}", "fingerprint": f"f{i}", "blessed": True}, actor="ci")
    procs = [subprocess.Popen([sys.executable, "-m", "mlci", "promote", "m", str(v), "--to", "production",
                               "--approver", f"approver-{v}", "--reason", f"r{v}", "--store", uri],
                              env=cli_env(s3_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for v in range(1, 21)]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * 20, [p.stderr.read() for p in procs]
    promotions = [e for e in reg.history() if e["event"] == "promote"]
    assert sorted(e["version"] for e in promotions) == list(range(1, 21))
    # every move saw the one before it: the chain of from_version links is unbroken
    assert sum(1 for e in promotions if e["from_version"] is None) == 1
    final = reg.alias("production")
    assert sorted([*final["history"], final["version"]]) == list(range(1, 21))


def test_registry_concurrent_alias_moves_keep_a_consistent_history_on_s3(bucket_env):
    store = open_store(f"s3://{bucket_env[0]}/mlci")
    reg = Registry(store, "bc")
    for i in range(10):
        reg.register({"run_id": f"r{i}", "fingerprint": f"fp{i}"}, actor="t")
    barrier = threading.Barrier(10)

    def promote(v: int) -> None:
        barrier.wait()
        reg.set_alias("production", v, actor=f"a{v}", reason="race")

    threads = [threading.Thread(target=promote, args=(v,)) for v in range(1, 11)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    final = reg.alias("production")
    # every move is in the history exactly once: none was lost to a concurrent writer
    assert sorted([*final["history"], final["version"]]) == list(range(1, 11))
    assert len([e for e in reg.history() if e["event"] == "promote"]) == 10
