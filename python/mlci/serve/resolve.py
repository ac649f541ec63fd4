"""Find the model to serve: a directory, a run, or NAME@VERSION|ALIAS from the registry."""

from __future__ import annotations

import os
from pathlib import Path

from mlci.errors import NotFoundError


def _trusted(config_path: str | None) -> tuple[object | None, list[str]]:
    if config_path and Path(config_path).is_file():
        from mlci import config

        cfg = config.load(config_path)
        return cfg, list(cfg.model.trusted_types)
    return None, []


def resolve_model(ref: str | None, config_path: str | None = "mlci.yaml",
                  store_uri: str | None = None) -> tuple[Path, list[str], dict[str, str]]:
    """(model directory, extra trusted types, {name, version}). Registry models are cached under
    .mlci/cache/models/<name>/<version>/ (downloaded once, verified)."""
    cfg, trusted = _trusted(config_path)
    if ref is None:
        if cfg is None:
            raise NotFoundError("no --model given and no mlci.yaml here; pass --model DIR or NAME@ALIAS")
        from mlci.runs import Project

        run = Project(cfg).run("latest")
        return _model_dir(run.path), trusted, {}
    path = Path(ref).expanduser()
    if path.exists() or "/" in ref or ref.startswith("."):
        if not path.exists():
            raise NotFoundError(f"--model {ref}: no such directory")
        return _model_dir(path), trusted, {}
    from mlci.registry import Registry, download_model, parse_ref
    from mlci.store import open_configured

    name, version = parse_ref(ref)
    store = open_configured(store_uri, cfg)
    record = Registry(store, name).resolve(version)
    workspace = Path(os.environ.get("MLCI_WORKSPACE") or (cfg.root / ".mlci" if cfg else Path(".mlci")))
    cache = workspace / "cache" / "models"
    target = cache / name / str(record["version"]) / "model"
    if not (target / "MLmodel.json").is_file():
        download_model(store, record, cache)
    return target, trusted, {"name": name, "version": str(record["version"]),
                             "fingerprint": str(record.get("fingerprint") or "")}


def _model_dir(path: Path) -> Path:
    if (path / "MLmodel.json").is_file():
        return path
    if (path / "model" / "MLmodel.json").is_file():
        return path / "model"
    raise NotFoundError(f"{path}: not a model directory or a run directory (no MLmodel.json)")
