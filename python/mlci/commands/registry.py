"""mlci registry list|show|history"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="versions of a model, newest first (or all models without NAME)")
    p.add_argument("name", nargs="?")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="show the newest N versions (default 20)")
    p.add_argument("--before", type=int, metavar="V", help="the page of versions older than V")
    p.add_argument("--all", action="store_true", help="every version (one listing of the store)")
    p2 = sub.add_parser("show", help="one version: NAME, NAME@VERSION or NAME@ALIAS")
    p2.add_argument("ref")
    p3 = sub.add_parser("history", help="the audit log of a model")
    p3.add_argument("name")
    for each in (p, p2, p3):
        each.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.commands import open_registry, open_store
    from mlci.registry import list_models, parse_ref

    if args.action == "list" and not args.name:
        names = list_models(open_store(args))
        if args.json:
            ui.print_json(names)
        else:
            ui.table("models", ["name"], [[n] for n in names])
        return 0
    if args.action == "list":
        registry = open_registry(args, args.name)
        if args.limit < 1:
            from mlci.errors import UsageError

            raise UsageError(f"--limit {args.limit}: expected a number of versions, at least 1")
        versions = list(reversed(registry.versions())) if args.all else registry.page(args.limit, args.before)
        if not versions and args.before is not None and registry.latest_number():
            from mlci.errors import NotFoundError

            raise NotFoundError(f"model `{args.name}` has no version before v{args.before}")
        if not versions:
            from mlci.errors import NotFoundError

            raise NotFoundError(f"model `{args.name}` is not registered in {registry.store.uri}")
        aliases = registry.aliases()
        by_version: dict[int, list[str]] = {}
        for a, v in aliases.items():
            by_version.setdefault(v, []).append(a)
        if args.json:
            ui.print_json([{**v, "aliases": by_version.get(v["version"], [])} for v in versions])
            return 0
        metric_names = list((versions[0].get("metrics") or {}))[:3]
        ui.table(f"{args.name}: versions", ["version", "aliases", "blessed", *metric_names, "created", "actor", "run"],
                 [[v["version"], ", ".join(by_version.get(v["version"], [])), "yes" if v.get("blessed") else "no",
                   *[ui.fmt((v.get("metrics") or {}).get(m)) for m in metric_names],
                   v.get("created"), v.get("actor"), v.get("run_id")] for v in versions])
        oldest = versions[-1]["version"]
        if not args.all and oldest > 1 and len(versions) == args.limit:
            ui.console().print(f"newest {len(versions)} shown; older: --before {oldest}, every version: --all")
        return 0
    if args.action == "show":
        name, ref = parse_ref(args.ref)
        registry = open_registry(args, name)
        rec = registry.resolve(ref)
        rec = {**rec, "aliases": [a for a, v in registry.aliases().items() if v == rec["version"]]}
        if args.json:
            ui.print_json(rec)
        else:
            rows = [["version", rec["version"]], ["aliases", ", ".join(rec["aliases"])],
                    ["blessed", rec.get("blessed")], ["created", rec.get("created")], ["actor", rec.get("actor")],
                    ["run", rec.get("run_id")], ["fingerprint", rec.get("fingerprint")],
                    ["estimator", rec.get("estimator")],
                    ["commit", (rec.get("lineage") or {}).get("code", {}).get("git_commit")],
                    ["build", (rec.get("build") or {}).get("url")]]
            rows += [[f"metric {k}", ui.fmt(v)] for k, v in (rec.get("metrics") or {}).items()]
            ui.table(f"{name} v{rec['version']}", ["field", "value"], rows)
        return 0
    registry = open_registry(args, args.name)
    events = registry.history()
    if not events and not registry.version_numbers():
        from mlci.errors import NotFoundError

        raise NotFoundError(f"model `{args.name}` is not registered in {registry.store.uri}")
    if args.json:
        ui.print_json(events)
    else:
        ui.table(f"{args.name}: history", ["time", "event", "version", "alias", "actor", "reason", "build"],
                 [[e.get("time"), e.get("event"), _moved(e), e.get("alias"), e.get("actor"),
                   e.get("reason"), (e.get("build") or {}).get("url")] for e in events])
    return 0


def _moved(event: dict) -> str:
    """`v2 -> v1` for an alias move (promote, rollback) that replaced a version, else the version."""
    version = event.get("version")
    previous = event.get("from_version")
    if event.get("alias") and previous is not None and previous != version:
        return f"v{previous} -> v{version}"
    return "" if version is None else f"v{version}"
