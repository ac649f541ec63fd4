"""Error types. Library code raises these; only the CLI edge turns them into exit codes.

Exit codes are the contract with the Jenkins steps:
  0 ok, 1 a check ran and said no, 2 bad input or usage, 3 infrastructure unreachable.
"""

from __future__ import annotations

from pathlib import Path


class MlciError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class UsageError(MlciError):
    """Bad input: config, data, arguments. One clear line, exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """mlci.yaml (or another config file) is invalid."""


class DataError(UsageError):
    """A data file is missing, unreadable or unusable."""


class NotFoundError(UsageError):
    """A model, version, alias or run that was asked for does not exist."""


class CheckFailed(MlciError):
    """A check ran and said no (gate not met, validation failed, unhealthy deploy).

    ``failures`` names what said no, in the shape of ``mlci.results.Failure``
    (``[{"name": ..., "detail": ...}]``); the CLI edge prints it with ``--json`` when the
    command had not printed its own result.
    """

    exit_code = 1

    def __init__(self, message: str, failures: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.failures = failures


class InfraError(MlciError):
    """Store, registry, Docker daemon or Jenkins unreachable after retries."""

    exit_code = 3


class IntegrityError(UsageError):
    """A stored file does not match its recorded checksum, or a record is corrupt."""


class FileChanged(IntegrityError):
    """A file's bytes are no longer those it was hashed as (it was rewritten while being published)."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


_USERINFO = None


def redact(text: str) -> str:
    """Hide credentials written into URLs (``http://user:PASS@host``, ``s3://KEY:SECRET@bucket``).

    The one place this is done: the CLI's error edge and everything that shows a URI or an
    endpoint call it, so a secret a user put in AWS_ENDPOINT_URL or store.uri is never printed.
    """
    global _USERINFO
    if _USERINFO is None:
        import re

        # scheme://<anything without whitespace, quotes or '@'>@ ; a secret may contain '/'
        _USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^\s@'\"<>]+@")
    return _USERINFO.sub(r"\1***@", str(text))
