"""The Docker client (docker SDK; honours DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."""

from __future__ import annotations

import os
from typing import Any

from mlci.retry import retry


def client() -> Any:
    """A connected client; InfraError (exit 3) when the daemon stays unreachable."""
    import docker
    import requests

    host = os.environ.get("DOCKER_HOST") or "the local Docker daemon"

    def connect() -> Any:
        c = docker.from_env(timeout=300)
        c.ping()
        return c

    return retry(connect, what=f"connecting to {host}",
                 on=(docker.errors.DockerException, requests.exceptions.RequestException, OSError))


def transient(message: str) -> bool:
    """Whether a daemon/registry error message looks like a network problem worth retrying."""
    text = message.lower()
    return any(s in text for s in ("connection refused", "dial tcp", "i/o timeout", "timeout", "no such host",
                                   "connection reset", "eof", "temporarily unavailable", "502", "503", "504"))
