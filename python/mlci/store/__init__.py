"""Artifact stores: LocalStore (a directory, the default) and S3Store (s3://bucket/prefix)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlci.store.base import KeyMissing, ObjectInfo, Store, blob_key
from mlci.util import sha256_file

__all__ = ["KeyMissing", "ObjectInfo", "Store", "blob_key", "open_configured", "open_store", "sha256_file"]


def open_configured(uri: str | None = None, config: Any = None) -> Store:
    """The store a command works on, decided the same way everywhere: ``uri`` (--store), else
    MLCI_STORE, else the config's ``store`` (a mlci.config.Config, or the path of an mlci.yaml,
    used when that file exists), else .mlci/store in the current directory."""
    uri = uri or os.environ.get("MLCI_STORE")
    if config is not None and not hasattr(config, "store"):
        path = Path(config)
        if path.is_file():
            from mlci import config as config_mod

            config = config_mod.load(path)
        else:
            config = None
    if config is not None:
        return open_store(uri or config.store.uri, config.root, config.store.addressing)
    return open_store(uri or ".mlci/store", Path.cwd())


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
