"""The suite itself: where a part of the test environment is missing, a test skips, and under
MLCI_REQUIRE_SERVICES=1 (CI's `make test`) it fails naming the part, so CI cannot pass green
with the Docker or S3 tests quietly skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PYTHON_SRC

HERE = Path(__file__).resolve().parent

NEEDS = {
    "docker": ("from docker_fixtures import docker_client\n\ndef test_needs_it():\n    docker_client()\n",
               "Docker daemon"),
    "moto": ("from s3_fixtures import start_moto\n\ndef test_needs_it():\n    start_moto()\n",
             "moto (the S3 endpoint)"),
}


def run_pytest(tmp_path: Path, part: str, require: bool) -> subprocess.CompletedProcess[str]:
    source, _ = NEEDS[part]
    (tmp_path / "test_needs.py").write_text(source)
    shadow = tmp_path / "shadow"  # a `moto` that cannot be imported, first on the path
    (shadow / "moto").mkdir(parents=True, exist_ok=True)
    (shadow / "moto" / "__init__.py").write_text("raise ImportError('not installed here')\n")
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock",
               PYTHONPATH=os.pathsep.join([str(shadow), str(HERE), str(PYTHON_SRC)]))
    env.pop("MLCI_REQUIRE_SERVICES", None)
    if require:
        env["MLCI_REQUIRE_SERVICES"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider",
                           "test_needs.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("part", sorted(NEEDS))
def test_a_missing_part_skips_the_test(tmp_path, part):
    r = run_pytest(tmp_path, part, require=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout
    assert f"missing part of the test environment: {NEEDS[part][1]}" in r.stdout


@pytest.mark.parametrize("part", sorted(NEEDS))
def test_a_missing_part_fails_the_test_where_services_are_required(tmp_path, part):
    r = run_pytest(tmp_path, part, require=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed" in r.stdout and "skipped" not in r.stdout
    assert f"missing part of the test environment: {NEEDS[part][1]}" in r.stdout
    assert "MLCI_REQUIRE_SERVICES=1 makes this a failure, not a skip" in r.stdout


def test_make_test_requires_the_services_and_make_pytest_does_not():
    def commands(target: str) -> list[str]:
        return subprocess.run(["make", "-n", "-C", str(HERE.parents[1]), target], capture_output=True,
                              text=True, timeout=60, check=True).stdout.splitlines()

    assert "MLCI_REQUIRE_SERVICES=1 .venv/bin/python -m pytest tests/python tests/e2e" in commands("test")
    assert ".venv/bin/python -m pytest tests/python tests/e2e" in commands("pytest")
