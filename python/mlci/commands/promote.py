"""mlci promote NAME VERSION --to ALIAS --approver WHO [--reason TEXT] [--force]"""

from __future__ import annotations

import argparse
import os


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model name")
    parser.add_argument("version", help="version number, 'latest', or an alias to copy from")
    parser.add_argument("--to", dest="alias", help="alias to move (default: promote.alias or production)")
    parser.add_argument("--approver", default=None,
                        help="who approved (default: MLCI_APPROVER, then the current user)")
    parser.add_argument("--reason", default=None, help="why (recorded in the audit log)")
    parser.add_argument("--force", action="store_true", help="promote even if not blessed (needs --reason)")
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def default_alias(args: argparse.Namespace) -> str:
    from pathlib import Path

    if Path(args.config).is_file():
        from mlci import config

        return config.load(args.config).promote.alias
    return "production"


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.commands import open_registry
    from mlci.registry import default_actor

    registry = open_registry(args, args.name)
    alias = args.alias or default_alias(args)
    record = registry.resolve(args.version)
    actor = args.approver or os.environ.get("MLCI_APPROVER") or default_actor()
    new = registry.promote(record["version"], alias, actor=actor, reason=args.reason, force=args.force)
    if args.json:
        ui.print_json({**new, "failures": []})
    else:
        prev = f" (was v{new['history'][-1]})" if new["history"] else ""
        ui.console().print(f"[green]promote[/]: {args.name}@{alias} -> v{new['version']}{prev}, approved by {actor}")
    return 0
