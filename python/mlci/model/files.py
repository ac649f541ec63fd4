"""The model directory's files and their checksums, common to every model format.

  model/signature.json    the input columns and what the model answers (mlci.model.signature)
  model/MLmodel.json      format, flavor, run and model name, every file's sha256
  model/...               the format's own files (model.skops; a command model's files)

Every file's sha256 is checked against MLmodel.json before anything is loaded, so a tampered
or truncated model is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlci.errors import IntegrityError, UsageError
from mlci.util import dumps, sha256_file

SIGNATURE_FILE = "signature.json"
META_FILE = "MLmodel.json"


def file_hashes(directory: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under ``directory`` except MLmodel.json."""
    return {p.relative_to(directory).as_posix(): sha256_file(p)
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != META_FILE}


def write_meta(directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write MLmodel.json with ``meta`` plus the sha256 of every file now in the directory."""
    full = {**meta, "files": file_hashes(directory)}
    (directory / META_FILE).write_bytes(dumps(full))
    return full


def read_meta(directory: Path) -> dict[str, Any]:
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise UsageError(f"{directory}: not a model directory (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise IntegrityError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("files", {}), dict):
        raise IntegrityError(f"{meta_path}: expected a JSON object with a `files` object")
    return meta


def verify(directory: Path) -> dict[str, Any]:
    """Check every file's sha256 against MLmodel.json; return the metadata."""
    meta = read_meta(directory)
    for name, expected in meta.get("files", {}).items():
        path = directory / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise IntegrityError(f"{directory / META_FILE}: file {name!r} is outside the model directory")
        if not path.is_file():
            raise IntegrityError(f"{path}: missing from the model directory")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(f"{path}: checksum mismatch (expected {str(expected)[:12]}, got {actual[:12]})")
    return meta
