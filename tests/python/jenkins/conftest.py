"""Fixtures for `mlci jenkins`: one local Jenkins REST fake per test session (see fake_jenkins.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_jenkins import FakeJenkins  # noqa: E402


@pytest.fixture(scope="session")
def _jenkins_server():
    fake = FakeJenkins()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def jenkins(_jenkins_server):
    """The fake Jenkins, emptied for each test."""
    _jenkins_server.reset()
    return _jenkins_server


@pytest.fixture
def jenv(jenkins):
    """Environment for the CLI: alice's credentials, fast polling."""
    return {"JENKINS_URL": jenkins.url, "JENKINS_USER": "alice", "JENKINS_TOKEN": "alice-token-1",
            "MLCI_JENKINS_POLL": "0.01"}
