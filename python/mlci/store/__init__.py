"""Artifact stores: LocalStore (a directory, the default) and S3Store (s3://bucket/prefix)."""

from __future__ import annotations

from pathlib import Path

from mlci.store.base import KeyMissing, ObjectInfo, Store, blob_key, sha256_file

__all__ = ["KeyMissing", "ObjectInfo", "Store", "blob_key", "open_store", "sha256_file"]


def open_store(uri: str, root: Path | None = None, addressing: str = "auto") -> Store:
    """Open the store at ``uri``; a relative directory is taken from ``root`` (the config's dir)."""
    if uri.startswith("s3://"):
        from mlci.store.s3 import S3Store

        return S3Store(uri, addressing=addressing)
    if "://" in uri:
        from mlci.errors import ConfigError

        raise ConfigError(f"store.uri: unsupported scheme in {uri!r}; expected a directory or s3://bucket/prefix")
    from mlci.store.local import LocalStore

    path = Path(uri).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    return LocalStore(path)
