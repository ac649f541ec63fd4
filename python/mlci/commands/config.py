"""mlci config schema|show|validate"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("schema", help="print the JSON Schema of mlci.yaml (for editors)")
    sub.add_parser("show", help="print the resolved configuration with defaults")
    sub.add_parser("check", help="validate mlci.yaml and exit")


def run(args: argparse.Namespace) -> int:
    import json

    from mlci import config, ui

    if args.action == "schema":
        print(config.json_schema())
        return 0
    cfg = config.load(args.config)
    if args.action == "show":
        print(json.dumps(cfg.normalized(), indent=2))
    else:
        ui.console().print(f"{args.config}: ok")
    return 0
