"""mlci sweep: a grid of overrides, each a normal run; validation before anything runs;
parallel jobs; the best candidate by the first gate's metric; shards merged by `select`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def make_project(root: Path, gates: list | None = None) -> Path:
    rng = np.random.default_rng(1)
    n = 200
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    y = ((x1 > 0) ^ (x2 > 0.5)).astype(int)  # needs depth 2+ to learn
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    pd.DataFrame({"x1": x1, "x2": x2, "y": y}).to_csv(root / "data" / "train.csv", index=False)
    cfg = {
        "name": "tree", "task": "classification",
        "data": {"train": "data/train.csv", "target": "y"},
        "model": {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}},
        "evaluate": {"metrics": ["accuracy", "log_loss"], "baseline": None,
                     "gates": gates if gates is not None else [{"metric": "accuracy", "threshold": 0.8}]},
    }
    (root / "mlci.yaml").write_text(json.dumps(cfg, indent=1))
    return root / "mlci.yaml"


def write_grid(root: Path, grid: dict, name: str = "grid.yaml") -> Path:
    (root / name).write_text(json.dumps(grid))
    return root / name


GRID = {"model.params.max_depth": [1, 4], "model.params.min_samples_leaf": [1, 20]}


def test_sweep_runs_the_grid_in_parallel_and_names_the_best(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    grid = write_grid(tmp_path / "p", GRID)
    r = mlci("sweep", "-c", cfg, "--grid", grid, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "combinations, 2 jobs" in r.stderr
    assert "max_depth=4 min_samples_leaf=1" in r.stderr
    assert "(accuracy: higher is better)" in r.stderr
    sweep_file = Path(r.stderr.split("sweep file: ")[1].split()[0])
    sweep = json.loads(sweep_file.read_text())
    assert len(sweep["candidates"]) == 4 and sweep["metric"] == "accuracy"
    assert [c["overrides"] for c in sweep["candidates"]][:2] == [
        {"model.params.max_depth": 1, "model.params.min_samples_leaf": 1},
        {"model.params.max_depth": 1, "model.params.min_samples_leaf": 20}]
    best = sweep["best"]
    assert best["overrides"]["model.params.max_depth"] == 4 and best["blessed"] is True
    accs = [c["metrics"]["accuracy"] for c in sweep["candidates"]]
    assert best["metrics"]["accuracy"] == max(accs)
    assert not sweep["candidates"][0]["blessed"]  # a stump cannot learn xor
    assert len({c["run_id"] for c in sweep["candidates"]}) == 4  # each its own run
    latest = (tmp_path / "p" / ".mlci" / "runs" / "LATEST").read_text().strip()
    assert latest == best["run_id"]

    again = mlci("sweep", "-c", cfg, "--grid", grid, "--jobs", "2", "--json")
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert {c["trained"] for c in rerun["candidates"]} == {"up to date"}
    assert rerun["best"]["run_id"] == best["run_id"]


def test_lower_is_better_metric_picks_the_minimum(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", gates=[{"metric": "log_loss", "threshold": 5.0}])
    grid = write_grid(tmp_path / "p", {"model.params.max_depth": [1, 3]})
    r = mlci("sweep", "-c", cfg, "--grid", grid, "--json")
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)
    assert sweep["metric"] == "log_loss" and sweep["greater_is_better"] is False
    losses = [c["metrics"]["log_loss"] for c in sweep["candidates"]]
    assert sweep["best"]["metrics"]["log_loss"] == min(losses)


def test_invalid_keys_and_values_fail_before_anything_runs(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    bad_section = write_grid(tmp_path / "p", {"model.parms.max_depth": [1, 2]}, "a.yaml")
    r = mlci("sweep", "-c", cfg, "--grid", bad_section)
    assert r.returncode == 2
    assert "a.yaml: model.parms.max_depth: unknown key under model `parms` (did you mean `params`?)" in r.stderr

    # the same messages, straight from the library (what the CLI prints after "mlci sweep: error: ")
    from mlci import sweep
    from mlci.errors import ConfigError

    bad_param = write_grid(tmp_path / "p", {"model.params.max_dept": [1, 2]}, "b.yaml")
    with pytest.raises(ConfigError, match=r"b.yaml: combination max_dept=1: model.params.max_dept: "
                                          r"DecisionTreeClassifier has no parameter `max_dept` \(did you mean `max_depth`\?\)"):
        sweep.validate(cfg, sweep.combinations(sweep.read_grid(bad_param)), bad_param)
    bad_value = write_grid(tmp_path / "p", {"split.test_size": [0.2, 3]}, "c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml: combination split.test_size=3: .*split.test_size"):
        sweep.validate(cfg, sweep.combinations(sweep.read_grid(bad_value)), bad_value)

    not_list = write_grid(tmp_path / "p", {"model.params.max_depth": 3}, "d.yaml")
    with pytest.raises(ConfigError, match="d.yaml: model.params.max_depth: expected a non-empty list of values, got 3"):
        sweep.read_grid(not_list)
    assert not (tmp_path / "p" / ".mlci" / "runs").exists()  # nothing ran


def test_a_rerun_checks_every_new_combination_before_training_any(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    grid = write_grid(tmp_path / "p", {"model.params.max_depth": [1, 4]})
    assert mlci("sweep", "-c", cfg, "--grid", grid, "--jobs", "2").returncode == 0
    runs = sorted(p.name for p in (tmp_path / "p" / ".mlci" / "runs").iterdir())
    # the trained combinations are up to date; the new estimator does not exist: nothing more runs
    write_grid(tmp_path / "p", {"model.params.max_depth": [1, 4],
                                "model.estimator": ["sklearn.tree.DecisionTreeClassifier",
                                                    "sklearn.tree.NoSuchTree"]}, "grid.yaml")
    r = mlci("sweep", "-c", cfg, "--grid", grid, "--jobs", "2")
    assert r.returncode == 2
    assert ("grid.yaml: combination max_depth=1 model.estimator=sklearn.tree.NoSuchTree: model.estimator: "
            "`sklearn.tree` has no `NoSuchTree`") in r.stderr
    assert sorted(p.name for p in (tmp_path / "p" / ".mlci" / "runs").iterdir()) == runs


def test_a_failing_combination_is_reported_and_the_rest_still_ranked(tmp_path, mlci):
    cfg = make_project(tmp_path / "p")
    grid = write_grid(tmp_path / "p", {"model.params.max_depth": [3, -1]})  # -1 fails at fit time
    r = mlci("sweep", "-c", cfg, "--grid", grid, "--json")
    assert r.returncode == 0, r.stderr
    sweep = json.loads(r.stdout)
    failed = sweep["candidates"][1]
    assert failed["status"] == "failed" and failed["exit_code"] == 2 and "max_depth" in failed["error"]
    assert sweep["best"]["index"] == 0


def test_no_blessed_candidate_exits_1(tmp_path, mlci):
    cfg = make_project(tmp_path / "p", gates=[{"metric": "accuracy", "threshold": 0.999}])
    grid = write_grid(tmp_path / "p", {"model.params.max_depth": [1]})
    r = mlci("sweep", "-c", cfg, "--grid", grid)
    assert r.returncode == 1
    assert "(not blessed)" in r.stderr
    r = mlci("sweep", "-c", cfg, "--grid", grid, "--json")
    assert r.returncode == 1
    failures = json.loads(r.stdout)["failures"]
    assert [f["name"] for f in failures] == ["max_depth=1"] and "accuracy" in failures[0]["detail"]


def test_shards_merge_with_select_and_the_best_is_published(tmp_path, mlci):
    """The mlciSweep flow: each agent runs one shard; its .mlci/runs come back (stash/unstash)
    and `mlci sweep select --grid` ranks the grid from the runs. Shard files (--out) merge too."""
    import shutil

    collector = tmp_path / "collector"
    cfg = make_project(collector)
    grid = write_grid(collector, GRID)
    for i in (1, 2):
        agent = tmp_path / f"agent{i}"
        make_project(agent)
        write_grid(agent, GRID)
        out = tmp_path / "stash" / f"shard{i}"
        r = mlci("sweep", "-c", agent / "mlci.yaml", "--grid", agent / "grid.yaml", "--shard", f"{i}/2",
                 "--out", out, "--json")
        assert r.returncode == 0, r.stderr  # a shard only works; select decides
        data = json.loads(r.stdout)
        assert data["shard"] == f"{i}/2" and len(data["candidates"]) == 2
        assert [c["index"] for c in data["candidates"]] == ([0, 2] if i == 1 else [1, 3])
        shutil.copytree(agent / ".mlci" / "runs", collector / ".mlci" / "runs", dirs_exist_ok=True)  # unstash
    assert (tmp_path / "stash" / "shard2" / "sweep-shard-2-of-2.json").is_file()

    only_one = mlci("sweep", "select", tmp_path / "stash" / "shard1")
    assert only_one.returncode == 2 and "shard 2/2 missing" in only_one.stderr
    from_files = mlci("sweep", "select", tmp_path / "stash", "--json")
    assert from_files.returncode == 0, from_files.stderr
    assert [c["index"] for c in json.loads(from_files.stdout)["candidates"]] == [0, 1, 2, 3]

    r = mlci("sweep", "select", "-c", cfg, "--grid", grid, "--publish", "--json")
    assert r.returncode == 0, r.stderr
    merged = json.loads(r.stdout)
    assert merged["source"] == "workspace" and {c["status"] for c in merged["candidates"]} == {"ok"}
    best = merged["best"]
    assert best["overrides"]["model.params.max_depth"] == 4
    assert best["run_id"] == json.loads(from_files.stdout)["best"]["run_id"]
    assert merged["published"]["version"] == 1
    assert (collector / ".mlci" / "runs" / best["run_id"] / "publish.json").is_file()
    from mlci import config
    from mlci.registry import Registry
    from mlci.runs import Project

    record = Registry(Project(config.load(cfg)).open_store(), "tree").get(1)
    assert record["run_id"] == best["run_id"] and record["blessed"] is True

    empty = make_project(tmp_path / "empty")
    r = mlci("sweep", "select", "-c", empty, "--grid", grid)
    assert r.returncode == 2 and "none of the 4 combinations" in r.stderr


def test_the_fork_server_exits_without_tearing_down_its_libraries(tmp_path):
    """A sweep's fork server holds the sweep's stdout and stderr, so whoever reads the output
    to its end (`mlci sweep --json | jq`, a CI step capturing it) waits for it to exit. Tearing
    down scikit-learn, pandas and scipy object by object took it ~0.5 s after the sweep was
    done; the module it preloads last ends it at its first atexit step, output flushed."""
    import subprocess
    import sys

    from mlci import sweep as sweep_module

    assert sweep_module.PRELOAD_LAST == "mlci.forkserver_exit"
    marker = tmp_path / "teardown-ran"
    script = (f"import atexit, sys\n"
              f"class Teardown:\n"
              f"    def __del__(self, open=open):  # builtins may be gone by then\n"
              f"        open({str(marker)!r}, 'w').close()\n"
              f"kept = Teardown()  # freed only by the interpreter's teardown\n"
              f"import {{module}}\n"
              f"print('flushed', end='')\n")
    for module, torn_down in (("mlci.forkserver_exit", False), ("json", True)):
        r = subprocess.run([sys.executable, "-c", script.format(module=module)], capture_output=True, text=True)
        assert (r.returncode, r.stdout) == (0, "flushed"), r.stderr
        assert marker.exists() is torn_down, module
        marker.unlink(missing_ok=True)
