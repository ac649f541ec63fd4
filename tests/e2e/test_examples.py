"""The examples end to end, as `make demo` runs them: first run registers and promotes a
blessed model; the second run finds every stage up to date and redoes nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    env.pop("MLCI_STORE", None)
    return subprocess.run([sys.executable, "-m", "mlci", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("example,name", [("breast-cancer", "breast-cancer"), ("diabetes", "diabetes")])
def test_example_pipeline(tmp_path, example, name):
    work = tmp_path / example
    shutil.copytree(REPO / "examples" / example, work, ignore=shutil.ignore_patterns(".mlci", "data"))
    shutil.copy(REPO / "examples" / "make_data.py", tmp_path / "make_data.py")
    subprocess.run([sys.executable, str(tmp_path / "make_data.py"), example], check=True, capture_output=True)
    first = run("run", "--promote", "--json", cwd=work)
    assert first.returncode == 0, first.stderr
    stages = {s["stage"]: s["status"] for s in json.loads(first.stdout)["stages"]}
    assert stages["publish"] == "ran" and stages["promote"] == "ran"
    shown = json.loads(run("registry", "show", f"{name}@production", "--json", cwd=work).stdout)
    assert shown["version"] == 1 and shown["blessed"] is True
    assert all(g["passed"] is not False for g in shown["gates"])

    runs = sorted(p.name for p in (work / ".mlci" / "runs").iterdir())
    model = next((work / ".mlci" / "runs").glob("*/model/model.skops"))
    written = model.stat().st_mtime_ns
    history = run("registry", "history", name, "--json", cwd=work).stdout

    second = run("run", "--promote", "--json", cwd=work)
    assert second.returncode == 0, second.stderr
    out = json.loads(second.stdout)
    assert {s["status"] for s in out["stages"]} == {"up to date"}
    # nothing was redone: no new run, the model file untouched, nothing new in the registry
    assert sorted(p.name for p in (work / ".mlci" / "runs").iterdir()) == runs
    assert model.stat().st_mtime_ns == written
    assert run("registry", "history", name, "--json", cwd=work).stdout == history
    assert [v["version"] for v in json.loads(run("registry", "list", name, "--json", cwd=work).stdout)] == [1]
