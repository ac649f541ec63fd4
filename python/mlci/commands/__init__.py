"""One module per CLI command: ``register(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from typing import Any


def load_project(args: argparse.Namespace) -> Any:
    from mlci import config
    from mlci.runs import Project

    return Project(config.load(args.config))


def open_store(args: argparse.Namespace) -> Any:
    """The store of --store, MLCI_STORE, mlci.yaml (-c) or .mlci/store: one rule for every command."""
    from mlci.store import open_configured

    return open_configured(getattr(args, "store", None), args.config)


def open_registry(args: argparse.Namespace, name: str) -> Any:
    """Model ``name``'s registry in the command's store (see ``open_store``)."""
    from mlci.registry import Registry

    return Registry(open_store(args), name)


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rerun even if the inputs are unchanged")


def add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default="latest", metavar="RUN_ID",
                        help="run directory under .mlci/runs (default: the latest training)")
