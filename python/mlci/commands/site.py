"""mlci site -o DIR [--store URI]"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory the catalog is written into (index.html, models/, mlci.css)")
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlci import ui
    from mlci.commands import open_store
    from mlci.site import build

    result = build(open_store(args), Path(args.output))
    if args.json:
        ui.print_json(result)
        return 0
    ui.console().print(f"site: {result['models']} models, {result['versions']} versions in {result['store']}; "
                       f"{len(result['written'])} of {result['pages']} pages written to {result['output']}"
                       + (f"; {result['problems']} unreadable records shown as such" if result["problems"] else ""))
    return 0
