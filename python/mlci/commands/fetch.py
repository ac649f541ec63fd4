"""mlci fetch"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="NAME@VERSION|NAME@ALIAS",
                        help="the model version: name@3, name@production, name@latest")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory to write the model into (replaced if it holds a model)")
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")
    parser.add_argument("--all", action="store_true",
                        help="every file of the version's run (metrics, reports), not only the model")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlci import fetch, ui
    from mlci.commands import open_registry
    from mlci.registry import parse_ref

    name, ref = parse_ref(args.ref)
    registry = open_registry(args, name)
    if args.quiet or args.json:
        out = fetch.fetch(registry, ref, Path(args.output), everything=args.all)
    else:
        with ui.byte_progress(f"fetch {name}@{ref}") as on_bytes:
            out = fetch.fetch(registry, ref, Path(args.output), everything=args.all, on_bytes=on_bytes)
    if args.json:
        ui.print_json(out)
    elif not args.quiet:
        ui.console().print(f"[green]fetch[/]: {name} v{out['version']} -> {out['dir']} "
                           f"({out['files']} files, {out['bytes']} bytes, sha256 verified)")
    return 0
