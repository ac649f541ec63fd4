"""The registry's invariants under races and crashes, with real `mlci` processes, on a local
store and on two S3 servers (moto, SeaweedFS).

Interleavings that a race only sometimes produces are forced with MLCI_TEST_HOOK (see
mlci/crashpoints.py): a process waits at a named step until the test lets it go, or is
SIGKILLed right after it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from s3_fixtures import S3_KINDS, s3_store_env

from conftest import cli_env
from mlci.registry import Registry
from mlci.store import blob_key, open_store


@pytest.fixture(params=["local", *S3_KINDS])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """(store URI, environment for the CLI)."""
    if request.param == "local":
        return str(tmp_path / "store"), {}
    name, env = s3_store_env(request.param, monkeypatch)
    return f"s3://{name}/mlci", env


def start(*args: str, env: dict[str, str], cwd: Path, hook: str | None = None) -> subprocess.Popen[str]:
    extra = {**env, **({"MLCI_TEST_HOOK": hook} if hook else {})}
    return subprocess.Popen([sys.executable, "-m", "mlci", *map(str, args)], cwd=cwd, env=cli_env(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_reached(flag: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until ``proc`` waits at its hook (it touched FLAG.reached)."""
    deadline = time.monotonic() + timeout
    while not Path(f"{flag}.reached").exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before its hook: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"{flag}: hook never reached"
        time.sleep(0.05)


def seed(uri: str, versions: int, promote_all: bool = True) -> Registry:
    """Model m with versions 1..n, each with its own files; production promoted 1, 2, ..., n."""
    store = open_store(uri)
    reg = Registry(store, "m")
    for v in range(1, versions + 1):
        tmp = Path(f"/tmp/mlci-race-{uuid4()}")
        tmp.mkdir()
        f = tmp / "weights.bin"
        f.write_bytes(f"weights of v{v} {tmp.name}".encode())
        store.publish_run(f"run{v}-{tmp.name[-8:]}", {"model/weights.bin": f})
        reg.register({"run_id": f"run{v}-{tmp.name[-8:]}", "fingerprint": f"fp{v}-{tmp.name}", "blessed": True},
                     actor="seed")
        f.unlink()
        tmp.rmdir()
        if promote_all:
            reg.set_alias("production", v, actor="seed", reason="seed")
    return reg


def uuid4() -> str:
    import uuid

    return uuid.uuid4().hex


def check_version_files(reg: Registry, version: int) -> None:
    """Every blob the version's manifest lists is in the store."""
    record = reg.get(version)
    manifest = reg.store.get_manifest(record.get("store_run") or record["run_id"])
    missing = [rel for rel, e in manifest["files"].items() if not reg.store.exists(blob_key(e["sha256"]))]
    assert not missing, f"v{version} points at deleted blobs: {missing}"


# --- alias moves -------------------------------------------------------------------------------
def test_ten_racing_rollbacks_each_go_back_exactly_one_step(where, tmp_path):
    uri, env = where
    reg = seed(uri, 11)
    assert reg.alias("production")["history"] == list(range(1, 11))
    procs = [start("rollback", "m", "--to", "production", "--reason", f"r{i}", "--store", uri, env=env, cwd=tmp_path)
             for i in range(10)]
    results = [finish(p) for p in procs]
    assert [code for code, _, _ in results] == [0] * 10, [err for _, _, err in results]
    final = reg.alias("production")
    assert (final["version"], final["history"]) == (1, [])
    rollbacks = sorted((e["from_version"], e["version"]) for e in reg.history() if e["event"] == "rollback")
    assert rollbacks == [(v + 1, v) for v in range(1, 11)]  # every step once: none lost, none repeated


def test_a_rollback_whose_compare_and_swap_retries_rereads_its_target(where, tmp_path):
    uri, env = where
    reg = seed(uri, 6)  # production: v6, history [1..5]
    flag = tmp_path / "go"
    slow = start("rollback", "m", "--to", "production", "--store", uri, env=env, cwd=tmp_path,
                 hook=f"alias:read=wait:{flag}")
    wait_reached(flag, slow)  # it has read {v6, [1..5]}
    code, _, err = finish(start("rollback", "m", "--to", "production", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err
    flag.touch()
    code, _, err = finish(slow)
    assert code == 0, err
    final = reg.alias("production")
    assert (final["version"], final["history"]) == (4, [1, 2, 3])  # 6 -> 5 -> 4, nothing lost


def test_a_rollback_overlapping_a_promote_goes_back_from_the_promoted_version(where, tmp_path):
    uri, env = where
    reg = seed(uri, 7, promote_all=False)
    for v in range(1, 7):
        reg.set_alias("production", v, actor="seed", reason="seed")  # v6, history [1..5]
    flag = tmp_path / "go"
    slow = start("rollback", "m", "--to", "production", "--store", uri, env=env, cwd=tmp_path,
                 hook=f"alias:read=wait:{flag}")
    wait_reached(flag, slow)
    code, _, err = finish(start("promote", "m", "7", "--to", "production", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err
    flag.touch()
    code, _, err = finish(slow)
    assert code == 0, err
    final = reg.alias("production")
    assert (final["version"], final["history"]) == (6, [1, 2, 3, 4, 5])  # promote 7, then back to 6


# --- gc and aliases ------------------------------------------------------------------------------
def test_rollback_and_promote_to_a_collected_version_exit_2_and_leave_the_alias(where, tmp_path):
    uri, env = where
    reg = seed(uri, 3)  # production: v3, history [1, 2]
    code, _, err = finish(start("gc", "--keep", "1", "--grace", "0", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err
    assert reg.get(1).get("collected") and not reg.get(2).get("collected")  # v2 is the rollback target
    code, _, err = finish(start("rollback", "m", "--to", "production", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err
    before = reg.store.get_bytes("models/m/aliases/production.json")
    for args in (("rollback", "m", "--to", "production"), ("promote", "m", "1", "--to", "production")):
        code, out, err = finish(start(*args, "--store", uri, env=env, cwd=tmp_path))
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "m v1 was garbage-collected" in lines[0] and "Traceback" not in err
    assert reg.store.get_bytes("models/m/aliases/production.json") == before
    assert reg.alias("production")["version"] == 2


def test_gc_gives_back_a_version_a_promote_moved_the_alias_to_after_gc_planned(where, tmp_path):
    uri, env = where
    reg = seed(uri, 3, promote_all=False)
    reg.set_alias("production", 3, actor="seed", reason="seed")  # v1, v2: nothing points to them
    flag = tmp_path / "go"
    gc = start("gc", "--keep", "1", "--grace", "0", "--json", "--store", uri, env=env, cwd=tmp_path,
               hook=f"gc:planned=wait:{flag}")
    wait_reached(flag, gc)  # gc has planned to drop v1 and v2
    code, _, err = finish(start("promote", "m", "1", "--to", "production", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err
    flag.touch()
    code, out, err = finish(gc)
    assert code == 0, err
    assert json.loads(out)["dropped_versions"] == {"m": [2]}  # v1 was given back
    assert reg.alias("production")["version"] == 1 and not reg.get(1).get("collected")
    check_version_files(reg, 1)


def test_a_promote_that_meets_gc_collecting_its_version_is_undone(where, tmp_path):
    uri, env = where
    reg = seed(uri, 3, promote_all=False)
    reg.set_alias("production", 3, actor="seed", reason="seed")
    flag = tmp_path / "go"
    gc = start("gc", "--keep", "1", "--grace", "0", "--store", uri, env=env, cwd=tmp_path,
               hook=f"gc:marked=wait:{flag}")
    wait_reached(flag, gc)  # v1 and v2 are marked collected; gc has not re-read the aliases yet
    code, _, err = finish(start("promote", "m", "1", "--to", "production", "--store", uri, env=env, cwd=tmp_path))
    assert code == 2 and "garbage-collected" in err, err
    flag.touch()
    code, _, err = finish(gc)
    assert code == 0, err
    assert reg.alias("production")["version"] == 3
    assert [e["event"] for e in reg.history()].count("promote") == 1  # only the seed's


# --- gc and publish --------------------------------------------------------------------------------
def make_project(root: Path) -> Path:
    from projects import classification_project

    from mlci import config
    from mlci.evaluate import evaluate
    from mlci.runs import Project
    from mlci.train import train

    cfg = classification_project(root)
    project = Project(config.load(cfg))
    evaluate(project, project.run(train(project)["run_id"]))
    return cfg


def model_blob(cfg: Path) -> Path:
    return next((cfg.parent / ".mlci" / "runs").glob("*/model/model.skops"))


def ghost_model(uri: str, cfg: Path, tmp_path: Path) -> Any:
    """The store at ``uri`` with model `ghost`: v1 holds the same model file the project trains
    (which gc may drop with --keep 1), v2 something else. Returns the store."""
    store = open_store(uri)
    ghost = Registry(store, "ghost")
    store.publish_run("ghost-run", {"model/model.skops": model_blob(cfg)})
    ghost.register({"run_id": "ghost-run", "fingerprint": "g1"}, actor="t")
    extra = tmp_path / "other.bin"
    extra.write_bytes(b"something else")
    store.publish_run("ghost-run-2", {"model/other.bin": extra})
    ghost.register({"run_id": "ghost-run-2", "fingerprint": "g2"}, actor="t")
    return store


def test_gc_never_deletes_a_blob_a_publish_in_progress_reuses(where, tmp_path):
    uri, env = where
    cfg = make_project(tmp_path / "p")
    store = ghost_model(uri, cfg, tmp_path)

    flag = tmp_path / "go"
    env = {**env, "MLCI_STORE": uri}
    publish = start("publish", "-c", cfg, env=env, cwd=tmp_path, hook=f"publish:blobs=wait:{flag}")
    wait_reached(flag, publish)  # it found model.skops in the store and did not upload it
    code, out, err = finish(start("gc", "--keep", "1", "--grace", "0", "--json", "--store", uri,
                                  env=env, cwd=tmp_path))
    assert code == 0, err
    assert json.loads(out)["dropped_versions"] == {"ghost": [1]}
    flag.touch()
    code, _, err = finish(publish)
    assert code == 0, err
    check_version_files(Registry(store, "bc"), 1)
    code, _, err = finish(start("fetch", "bc@1", "-o", tmp_path / "out", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err


def test_a_publish_waits_while_gc_deletes_then_uploads_what_gc_took(where, tmp_path):
    uri, env = where
    cfg = make_project(tmp_path / "p")
    store = ghost_model(uri, cfg, tmp_path)

    flag = tmp_path / "go"
    env = {**env, "MLCI_STORE": uri}
    gc = start("gc", "--keep", "1", "--grace", "0", "--store", uri, env=env, cwd=tmp_path,
               hook=f"gc:marked=wait:{flag}")
    wait_reached(flag, gc)  # gc's mark is in the store; it is about to delete model.skops
    publish = start("publish", "-c", cfg, env=env, cwd=tmp_path)
    time.sleep(3)
    assert publish.poll() is None  # waiting for gc
    flag.touch()
    assert finish(gc)[0] == 0
    code, _, err = finish(publish)
    assert code == 0, err
    assert "waiting for `mlci gc`" in err
    check_version_files(Registry(store, "bc"), 1)


def test_the_mark_of_a_killed_gc_does_not_hold_publishes_back(where, tmp_path):
    uri, env = where
    seed(uri, 3)
    code, _, err = finish(start("gc", "--keep", "1", "--grace", "0", "--store", uri, env=env, cwd=tmp_path,
                                hook="gc:marked=kill"))
    assert code == -signal.SIGKILL, err
    assert open_store(uri).list("leases/gc/")  # its mark is left behind
    cfg = make_project(tmp_path / "p")
    started = time.monotonic()
    code, _, err = finish(start("publish", "-c", cfg, env={**env, "MLCI_STORE": uri, "MLCI_GC_WAIT": "20"},
                                cwd=tmp_path))
    assert code == 0, err
    assert time.monotonic() - started < 15 and "waiting for `mlci gc`" not in err


# --- a publish killed at every step ---------------------------------------------------------------
STEPS = ["publish:lease", "publish:blobs", "publish:manifest", "register:claim", "register:version",
         "register:event", "publish:registered"]


@pytest.mark.parametrize("step", STEPS)
def test_a_publish_killed_at_each_step_is_completed_by_the_rerun(where, tmp_path, step):
    uri, env = where
    cfg = make_project(tmp_path / "p")
    env = {**env, "MLCI_STORE": uri}
    code, _, err = finish(start("publish", "-c", cfg, env=env, cwd=tmp_path, hook=f"{step}=kill"))
    assert code == -signal.SIGKILL, err
    code, out, err = finish(start("publish", "-c", cfg, "--json", env=env, cwd=tmp_path))
    assert code == 0, err
    assert json.loads(out)["version"] == 1
    reg = Registry(open_store(uri), "bc")
    assert reg.version_numbers() == [1]
    assert [(e["event"], e["version"]) for e in reg.history()] == [("register", 1)]
    check_version_files(reg, 1)
    code, _, err = finish(start("fetch", "bc@1", "-o", tmp_path / "out", "--store", uri, env=env, cwd=tmp_path))
    assert code == 0, err


# --- many models, one store -----------------------------------------------------------------------
def test_two_models_trained_on_the_same_data_and_config_each_publish_their_own_v1(where, tmp_path):
    uri, env = where
    cfg_a = make_project(tmp_path / "a")
    cfg_b = tmp_path / "b" / "mlci.yaml"
    import shutil

    shutil.copytree(cfg_a.parent, cfg_b.parent, ignore=shutil.ignore_patterns(".mlci"))
    cfg_b.write_text(cfg_b.read_text().replace("name: bc", "name: bc-twin"))
    from mlci import config
    from mlci.evaluate import evaluate
    from mlci.runs import Project
    from mlci.train import train

    project = Project(config.load(cfg_b))
    run_b = train(project)["run_id"]
    evaluate(project, project.run(run_b))
    assert run_b == next((cfg_a.parent / ".mlci" / "runs").iterdir()).name  # the same run id
    env = {**env, "MLCI_STORE": uri}
    procs = [start("publish", "-c", c, "--json", env=env, cwd=tmp_path) for c in (cfg_a, cfg_b)]
    for p in procs:
        code, out, err = finish(p)
        assert code == 0, err
        assert json.loads(out)["version"] == 1
    store = open_store(uri)
    for name in ("bc", "bc-twin"):
        check_version_files(Registry(store, name), 1)
        code, _, err = finish(start("fetch", f"{name}@1", "-o", tmp_path / f"out-{name}", "--store", uri,
                                    env=env, cwd=tmp_path))
        assert code == 0, err
