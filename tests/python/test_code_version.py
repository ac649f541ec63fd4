"""What counts as code in the fingerprint (issue 20, defect 10): a nightly run retrains when the code
that trains changed, and not for a log, a README or an archived report next to mlci.yaml."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mlci import fingerprint as fp
from mlci.util import glob_regex
from projects import classification_project, write_config


def train_status(mlci, root: Path) -> str:
    r = mlci("run", "--json", cwd=root)
    assert r.returncode == 0, r.stderr
    return {s["stage"]: s["status"] for s in json.loads(r.stdout)["stages"]}["train"]


def git_init(root: Path) -> None:
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@example.org",
                                                  "commit", "-qm", "project"]):
        subprocess.run(["git", *args], cwd=root, check=True)


def code_hash(root: Path, config: Path) -> str:
    """The code version of the project, as mlci computes it from the config's `code:` and model.command."""
    from mlci import config as config_mod
    from mlci.runs import Project

    return Project(config_mod.load(config)).code["hash"]


@pytest.mark.parametrize("in_git", [False, True], ids=["plain folder", "git work tree"])
def test_files_that_do_not_train_do_not_make_a_retrain(tmp_path, mlci, in_git):
    classification_project(tmp_path)
    (tmp_path / "features.py").write_text("SCALE = 1\n")
    if in_git:
        git_init(tmp_path)
    assert train_status(mlci, tmp_path) == "ran"
    (tmp_path / "nightly.log").write_text("retrained at 02:00\n")
    (tmp_path / "README.md").write_text("# bc\nnew words\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "report.html").write_text("<html/>")
    (tmp_path / "notes.txt").write_text("x")
    assert train_status(mlci, tmp_path) == "up to date"
    (tmp_path / "features.py").write_text("SCALE = 2\n")
    assert train_status(mlci, tmp_path) == "ran"
    (tmp_path / "requirements.txt").write_text("scikit-learn\n")
    assert train_status(mlci, tmp_path) == "ran"


def test_an_untracked_python_file_is_code_in_git(tmp_path):
    config = classification_project(tmp_path)
    git_init(tmp_path)
    before = code_hash(tmp_path, config)
    (tmp_path / "train.log").write_text("x")
    assert code_hash(tmp_path, config) == before
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "prep.py").write_text("x = 1\n")
    assert code_hash(tmp_path, config) != before


def test_the_trainer_commands_files_are_code(tmp_path):
    config = classification_project(tmp_path, model={"trainer": "command", "command": "Rscript train.R --fast"})
    (tmp_path / "train.R").write_text("fit <- 1\n")
    before = code_hash(tmp_path, config)
    (tmp_path / "train.R").write_text("fit <- 2\n")
    assert code_hash(tmp_path, config) != before
    assert fp.command_files("Rscript train.R --fast /usr/bin/env missing.R", tmp_path) == ["train.R"]


def test_a_code_list_in_mlci_yaml_says_exactly_what_counts(tmp_path, mlci):
    config_path = classification_project(tmp_path)
    (tmp_path / "model.cfg").write_text("depth=4\n")
    (tmp_path / "scratch.py").write_text("print(1)\n")
    cfg = yaml.safe_load(config_path.read_text())
    cfg["code"] = ["model.cfg", "src/**/*.py"]
    write_config(tmp_path, cfg)
    assert train_status(mlci, tmp_path) == "ran"
    (tmp_path / "scratch.py").write_text("print(2)\n")  # not listed
    assert train_status(mlci, tmp_path) == "up to date"
    (tmp_path / "model.cfg").write_text("depth=5\n")
    assert train_status(mlci, tmp_path) == "ran"
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "fit.py").write_text("x = 1\n")
    assert train_status(mlci, tmp_path) == "ran"


@pytest.mark.parametrize("pattern,path,matches", [
    ("**/*.py", "train.py", True), ("**/*.py", "a/b/train.py", True), ("**/*.py", "train.pyc", False),
    ("src/*.py", "src/a/b.py", False), ("src/**/*.py", "src/b.py", True), ("model.cfg", "x/model.cfg", False),
])
def test_code_globs(pattern, path, matches):
    assert bool(glob_regex(pattern).match(path)) is matches
