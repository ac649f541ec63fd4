"""Shared fixtures: run the real CLI in a subprocess, build example projects in tmp dirs;
what a test does when a part of the test environment is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON_SRC = REPO / "python"
# in-process imports use this checkout's package, whatever is installed
sys.path.insert(0, str(PYTHON_SRC))

# fixtures shared across modules: real S3 servers, the Docker daemon and registry, a model
# server, headless Chromium (each starts its part on first use)
pytest_plugins = ["s3_fixtures", "docker_fixtures", "serve_fixtures", "browser"]


def missing_part(part: str, detail: str) -> NoReturn:
    """A part of the test environment that tests/setup.sh provides (Docker daemon, base image,
    registry, moto) is missing. The test skips, except where MLCI_REQUIRE_SERVICES=1 (CI's
    `make test`): there it fails, naming the part, so a green run means every test ran."""
    if os.environ.get("MLCI_REQUIRE_SERVICES") == "1":
        pytest.fail(f"missing part of the test environment: {part} ({detail}); "
                    "MLCI_REQUIRE_SERVICES=1 makes this a failure, not a skip", pytrace=False)
    pytest.skip(f"missing part of the test environment: {part} ({detail})")


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_SRC), env.get("PYTHONPATH")]))
    env.setdefault("MLCI_RETRIES", "2")
    env.setdefault("MLCI_RETRY_DELAY", "0.05")
    env.pop("MLCI_STORE", None)
    env["COLUMNS"] = "200"
    if extra:
        env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlci", *map(str, args)], cwd=cwd,
                          env=cli_env(env), input=input, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def mlci():
    """Call the mlci CLI: ``mlci("train", "-c", cfg, cwd=tmp_path)`` -> CompletedProcess."""
    return run_cli


@pytest.fixture(autouse=True)
def _fresh_direct_s3_requests(monkeypatch):
    """A test is a process of its own: mlci's own S3 requests, which a failure turns off for the
    rest of the process (store/s3_direct.py), start on again in each."""
    from mlci.store import s3

    monkeypatch.setattr(s3, "_directs", {})
