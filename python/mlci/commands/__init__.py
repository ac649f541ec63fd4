"""One module per CLI command: ``register(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from typing import Any


def load_project(args: argparse.Namespace) -> Any:
    from mlci import config
    from mlci.runs import Project

    return Project(config.load(args.config))


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="rerun even if the inputs are unchanged")


def add_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default="latest", metavar="RUN_ID",
                        help="run directory under .mlci/runs (default: the latest training)")
