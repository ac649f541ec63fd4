"""mlci gc"""

from __future__ import annotations

import argparse
import re


def parse_duration(text: str) -> float:
    """'24h', '7d', '30m', '90s' or seconds -> seconds."""
    from mlci.errors import UsageError

    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise UsageError(f"--grace {text!r}: expected a duration like 24h, 7d, 30m or a number of seconds")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")
    parser.add_argument("--keep", type=int, default=5, metavar="N",
                        help="keep the newest N versions of each model (default 5); alias targets always stay")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    parser.add_argument("--grace", default="24h", metavar="DURATION",
                        help="orphan blobs, unregistered runs and unfinished uploads younger than this "
                             "stay: a publish may be in progress (default 24h)")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="only drop versions of this model (repeatable); blobs stay shared")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def run(args: argparse.Namespace) -> int:
    from mlci import gc, ui
    from mlci.commands import open_store

    store = open_store(args)
    plan = gc.plan(store, keep=args.keep, grace=parse_duration(args.grace), models=args.model)
    if args.dry_run:
        out = {**plan.to_json(), "dry_run": True}
    else:
        out = {**gc.collect(store, plan), "dry_run": False}
    if args.json:
        ui.print_json(out)
        return 0
    con = ui.console()
    if args.dry_run and plan.blobs:
        ui.table("blobs that would be deleted", ["blob", "size", "why"],
                 [[b.key, _size(b.size), plan.reasons.get(b.key)] for b in plan.blobs])
    dropped = ", ".join(f"{name} v{','.join(map(str, ns))}" for name, ns in plan.dropped.items()) or "none"
    verb = "would drop" if args.dry_run else "dropped"
    con.print(f"gc: {verb} versions: {dropped}; {len(plan.blobs)} blobs ({_size(plan.bytes)}), "
              f"{len(plan.manifests)} run manifests, {len(plan.uploads)} unfinished uploads"
              + (" (dry run, nothing deleted)" if args.dry_run else ""))
    return 0
