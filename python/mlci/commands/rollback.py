"""mlci rollback NAME --to ALIAS [--approver WHO] [--reason TEXT]"""

from __future__ import annotations

import argparse
import os


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model name")
    parser.add_argument("--to", dest="alias", help="alias to move back (default: promote.alias or production)")
    parser.add_argument("--approver", default=None, help="who decided (default: the current user)")
    parser.add_argument("--reason", default=None, help="why (recorded in the audit log)")
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.commands import open_registry
    from mlci.commands.promote import default_alias
    from mlci.registry import default_actor

    registry = open_registry(args, args.name)
    alias = args.alias or default_alias(args)
    before = registry.alias(alias)
    actor = args.approver or os.environ.get("MLCI_APPROVER") or default_actor()
    new = registry.rollback(alias, actor=actor, reason=args.reason)
    if args.json:
        ui.print_json({**new, "failures": []})
    else:
        ui.console().print(f"[yellow]rollback[/]: {args.name}@{alias} v{before['version']} -> v{new['version']}")
    return 0
