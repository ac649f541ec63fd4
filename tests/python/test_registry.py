"""The registry: versions under concurrency, promotion, rollback, the audit log, bad input."""

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli_env
from mlci.registry import Registry
from mlci.store.local import LocalStore


def _publish_one(args):
    root, i = args
    store = LocalStore(root)
    f = Path(root).parent / f"file-{i}.bin"
    f.write_bytes(f"payload {i}".encode())
    store.publish_run(f"run-{i}", {"model/file.bin": f})
    rec, created = Registry(store, "m").register(
        {"run_id": f"run-{i}", "fingerprint": f"fp-{i}", "blessed": True, "metrics": {"f1": i / 100}},
        actor=f"worker-{i}")
    return rec["version"], created


def seed_versions(store_dir: Path, n: int, blessed=True) -> Registry:
    reg = Registry(LocalStore(store_dir), "m")
    for i in range(n):
        reg.register({"run_id": f"r{i}", "fingerprint": f"f{i}", "blessed": blessed if i else True,
                      "metrics": {"f1": 0.9}, "gates": [{"metric": "f1", "passed": blessed or not i,
                                                         "reason": "f1 0.9 fails threshold >= 0.95"}]},
                     actor="ci")
    return reg


def test_twenty_concurrent_publishes_get_distinct_versions(tmp_path):
    store_dir = tmp_path / "store"
    ctx = mp.get_context("spawn")
    with ctx.Pool(20) as pool:
        results = pool.map(_publish_one, [(str(store_dir), i) for i in range(20)])
    versions = sorted(v for v, _ in results)
    assert versions == list(range(1, 21))
    reg = Registry(LocalStore(store_dir), "m")
    assert reg.version_numbers() == list(range(1, 21))
    registered = [e for e in reg.history() if e["event"] == "register"]
    assert sorted(e["version"] for e in registered) == list(range(1, 21))
    assert {r["run_id"] for r in reg.versions()} == {f"run-{i}" for i in range(20)}


def test_the_same_fingerprint_is_registered_once(tmp_path):
    reg = Registry(LocalStore(tmp_path / "s"), "m")
    first, created1 = reg.register({"run_id": "a", "fingerprint": "same"})
    again, created2 = reg.register({"run_id": "a", "fingerprint": "same"})
    assert created1 and not created2
    assert again["version"] == first["version"] == 1
    assert reg.version_numbers() == [1]


def test_twenty_concurrent_promotions_end_on_a_promoted_version(tmp_path):
    store_dir = tmp_path / "store"
    seed_versions(store_dir, 20)
    procs = [subprocess.Popen([sys.executable, "-m", "mlci", "promote", "m", str(v), "--to", "production",
                               "--approver", f"approver-{v}", "--reason", f"r{v}", "--store", str(store_dir)],
                              env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for v in range(1, 21)]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * 20, [p.stderr.read() for p in procs]
    reg = Registry(LocalStore(store_dir), "m")
    final = reg.alias("production")
    assert 1 <= final["version"] <= 20
    promotions = [e for e in reg.history() if e["event"] == "promote"]
    assert sorted(e["version"] for e in promotions) == list(range(1, 21))
    assert {e["actor"] for e in promotions} == {f"approver-{v}" for v in range(1, 21)}
    # every move saw the one before it: the chain of from_version links is unbroken
    assert sum(1 for e in promotions if e["from_version"] is None) == 1


def test_promote_and_rollback_sequence_with_audit(tmp_path, mlci):
    store = tmp_path / "store"
    seed_versions(store, 3)
    env = {"BUILD_URL": "https://jenkins.local/job/bc/42/", "JOB_NAME": "bc", "BUILD_NUMBER": "42"}
    for v in ("1", "2", "3"):
        r = mlci("promote", "m", v, "--to", "production", "--approver", "alice", "--reason", f"ship {v}",
                 "--store", store, env=env)
        assert r.returncode == 0, r.stderr
    r = mlci("rollback", "m", "--to", "production", "--approver", "bob", "--reason", "latency", "--store", store)
    assert r.returncode == 0 and "v3 -> v2" in r.stderr
    r = mlci("rollback", "m", "--to", "production", "--approver", "bob", "--store", store)
    assert "v2 -> v1" in r.stderr
    r = mlci("rollback", "m", "--to", "production", "--store", store)
    assert r.returncode == 2 and "no previous version" in r.stderr
    show = json.loads(mlci("registry", "show", "m@production", "--json", "--store", store).stdout)
    assert show["version"] == 1 and show["aliases"] == ["production"]
    history = json.loads(mlci("registry", "history", "m", "--json", "--store", store).stdout)
    promotes = [e for e in history if e["event"] == "promote"]
    assert [e["actor"] for e in promotes] == ["alice"] * 3
    assert promotes[1]["reason"] == "ship 2" and promotes[1]["from_version"] == 1
    assert promotes[2]["build"]["url"] == "https://jenkins.local/job/bc/42/"
    assert promotes[2]["build"]["number"] == "42"
    rollbacks = [e for e in history if e["event"] == "rollback"]
    assert [(e["from_version"], e["version"], e["actor"]) for e in rollbacks] == [(3, 2, "bob"), (2, 1, "bob")]
    human = mlci("registry", "history", "m", "--store", store)
    assert human.returncode == 0 and "alice" in human.stderr and "latency" in human.stderr


def test_unblessed_version_is_refused_unless_forced_with_reason(tmp_path, mlci):
    store = tmp_path / "store"
    seed_versions(store, 2, blessed=False)
    r = mlci("promote", "m", "2", "--to", "production", "--approver", "a", "--store", store, "--json")
    assert r.returncode == 1
    assert "m v2 is not blessed: f1 0.9 fails threshold >= 0.95" in r.stderr
    # printed by the CLI edge: promote itself prints nothing when the registry says no
    failures = json.loads(r.stdout)["failures"]
    assert [f["name"] for f in failures] == ["promote"] and "not blessed" in failures[0]["detail"]
    r = mlci("promote", "m", "2", "--to", "production", "--approver", "a", "--force", "--store", store)
    assert r.returncode == 2 and "needs --reason" in r.stderr
    reg = Registry(LocalStore(store), "m")
    assert reg.alias("production") is None
    r = mlci("promote", "m", "2", "--to", "production", "--approver", "a", "--force",
             "--reason", "hotfix", "--store", store)
    assert r.returncode == 0
    event = [e for e in reg.history() if e["event"] == "promote"][-1]
    assert event["forced"] is True and event["reason"] == "hotfix"


@pytest.mark.parametrize("args,message", [
    (["promote", "nosuch", "1", "--to", "production"], "model `nosuch` is not registered"),
    (["promote", "m", "7", "--to", "production"], "model `m` has no version 7 (versions: 1, 2)"),
    (["promote", "m", "staging", "--to", "production"], "model `m` has no alias `staging`"),
    (["promote", "m", "1", "--to", "bad alias!"], "alias 'bad alias!': expected letters"),
    (["registry", "show", "m@9"], "model `m` has no version 9"),
    (["registry", "history", "nosuch"], "model `nosuch` is not registered"),
    (["rollback", "m", "--to", "canary"], "model `m` has no alias `canary`"),
])
def test_bad_registry_input(tmp_path, mlci, args, message):
    store = tmp_path / "store"
    seed_versions(store, 2)
    before = sorted(p.name for p in store.rglob("*"))
    r = mlci(*args, "--store", store)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in store.rglob("*")) == before


def test_hand_edited_invalid_record_is_a_clear_error_and_nothing_changes(tmp_path, mlci):
    store = tmp_path / "store"
    seed_versions(store, 2)
    record = store / "models" / "m" / "versions" / "2.json"
    record.write_text('{"version": 2, "blessed": tru')
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    r = mlci("promote", "m", "2", "--to", "production", "--approver", "a", "--store", store)
    assert r.returncode == 2
    assert "models/m/versions/2.json is not valid JSON" in r.stderr
    after = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    assert after == before


def test_registry_list_table(tmp_path, mlci):
    store = tmp_path / "store"
    seed_versions(store, 2)
    assert mlci("promote", "m", "2", "--to", "production", "--approver", "a", "--store", store).returncode == 0
    r = mlci("registry", "list", "m", "--store", store)
    assert r.returncode == 0
    line = next(l for l in r.stderr.splitlines() if "│ 2 " in l)
    assert "production" in line
    all_models = json.loads(mlci("registry", "list", "--json", "--store", store).stdout)
    assert all_models == ["m"]
