"""Output made for Jenkins logs: stderr is a pipe there, and what the tables say must arrive whole."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import cli_env
from projects import classification_project


def log_cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    """The CLI as a Jenkins `sh` step runs it: stderr a pipe, no COLUMNS in the environment."""
    env = cli_env()
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "mlci", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_tables_in_a_log_are_not_cut_and_history_shows_rollbacks_with_their_reasons(tmp_path):
    cfg = classification_project(tmp_path)
    assert log_cli("run", "--promote", "--actor", "alice", cwd=tmp_path).returncode == 0
    data = yaml.safe_load(cfg.read_text())
    data["model"]["params"]["n_estimators"] = 21
    cfg.write_text(yaml.safe_dump(data))
    assert log_cli("run", "--promote", "--actor", "alice", cwd=tmp_path).returncode == 0
    reason = "p99 regression after the v2 rollout, see INC-4711 for the latency graphs"
    rolled = log_cli("rollback", "bc", "--to", "production", "--approver", "bob", "--reason", reason, cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stderr

    history = log_cli("registry", "history", "bc", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    assert "…" not in history.stderr, history.stderr
    row = next(line for line in history.stderr.splitlines() if "rollback" in line)
    assert reason in row and "bob" in row
    assert re.search(r"\b2\b.*->.*\b1\b|v2 -> v1", row), row  # from which version to which
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row), row  # the timestamp whole

    listing = log_cli("registry", "list", "bc", cwd=tmp_path)
    assert "…" not in listing.stderr, listing.stderr
    run_ids = [p.name for p in (tmp_path / ".mlci" / "runs").iterdir() if re.fullmatch(r"[0-9a-f]{16}", p.name)]
    assert run_ids and all(r in listing.stderr for r in run_ids), listing.stderr
