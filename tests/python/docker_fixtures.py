"""The Docker parts of the test environment (tests/setup.d): the daemon, the offline base image
and the local registry. A test that needs a missing one skips, or fails under
MLCI_REQUIRE_SERVICES=1 (conftest.missing_part)."""

from __future__ import annotations

import os
import socket
import urllib.request
from typing import Any

from conftest import missing_part

BASE = os.environ.get("MLCI_TEST_BASE_IMAGE", "mlci-test/python:3.11-slim")
REGISTRY = os.environ.get("MLCI_TEST_REGISTRY", "127.0.0.1:5000")


def docker_client(registry: bool = True) -> Any:
    """A client of the running daemon that has BASE (and, with ``registry``, a registry on
    REGISTRY); otherwise the test skips or fails (conftest.missing_part)."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        missing_part("Docker daemon", f"tests/setup.d/10-docker.sh starts one: {exc}")
    try:
        client.images.get(BASE)
    except Exception:  # noqa: BLE001
        missing_part(f"base image {BASE}", "tests/setup.d/20-base-image.sh builds it offline")
    if registry:
        try:
            urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5).read()
        except Exception as exc:  # noqa: BLE001
            missing_part(f"container registry on {REGISTRY}", f"tests/setup.d/25-registry.sh: {exc}")
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
