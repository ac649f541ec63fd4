"""mlci data status: has the training data changed since the last mark (or the latest version)?

Exit 0 unchanged (or changed, without --exit-code), 1 changed with --exit-code, 2 bad input,
3 store or endpoint unreachable.
"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    st = sub.add_parser("status", help="compare the data's fingerprint (from its listing) with the last mark")
    st.add_argument("--exit-code", action="store_true", help="exit 1 when the data changed (as `git diff --exit-code`)")
    st.add_argument("--mark", action="store_true",
                    help="record the data as it is now as the mark the next status compares with")
    st.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def run(args: argparse.Namespace) -> int:
    from mlci import data_status, ui
    from mlci.commands import load_project, open_store

    project = load_project(args)
    store = open_store(args)
    result = data_status.status(project, store)
    marked = None
    if args.mark:
        marked = data_status.mark(project, store)["marked"]
    if args.json:
        ui.print_json({**result, **({"marked": marked} if marked else {}), "failures": []})
    else:
        con = ui.console()
        since = {"mark": "the last mark", None: "nothing (no mark, no registered version)"}.get(
            result["since"], result["since"])
        for role, s in result["sources"].items():
            verdict = "[yellow]changed[/]" if s["changed"] else "[green]unchanged[/]"
            con.print(f"data.{role}: {verdict} since {since}: {s['source']} ({s['parts']} "
                      f"file{'s' if s['parts'] != 1 else ''}, {_size(s['bytes'])})")
            for change in s["changes"][:20]:
                con.print(f"  {change}", markup=False)
            if len(s["changes"]) > 20:
                con.print(f"  ... and {len(s['changes']) - 20} more")
        if marked:
            con.print(f"marked the data as of {marked}")
    return 1 if args.exit_code and result["changed"] else 0
