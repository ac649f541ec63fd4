"""The Docker client (docker SDK; honours DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."""

from __future__ import annotations

import os
import re
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


# Whole words only: a registry on port 50309 must not read as an HTTP 503.
_TRANSIENT = re.compile(r"connection refused|dial tcp|i/o timeout|timeout|no such host|connection reset|"
                        r"temporarily unavailable|\beof\b|(?<![\d:.])50[234](?!\d)")


def transient(message: str) -> bool:
    """Whether a daemon/registry error message looks like a network problem worth retrying."""
    return _TRANSIENT.search(message.lower()) is not None
