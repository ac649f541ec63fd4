"""mlci reproduce NAME@VERSION"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ref", metavar="NAME@VERSION", help="a registered version (or NAME@ALIAS)")
    parser.add_argument("--store", help="store URI (default: from mlci.yaml, MLCI_STORE or .mlci/store)")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.commands import open_registry
    from mlci.registry import parse_ref
    from mlci.reproduce import reproduce

    name, ref = parse_ref(args.ref)
    registry = open_registry(args, name)
    with ui.console().status(f"retraining {name}@{ref} from its lineage"):
        out = reproduce(registry.store, name, ref)
    if args.json:
        from mlci.results import failure

        failures = [] if out["identical"] else [failure("reproduce", f"{out['matching_rows']} of {out['rows']} "
                                                        "predictions match the registered model's")]
        ui.print_json({**out, "failures": failures})
    else:
        con = ui.console()
        verdict = "[green]identical[/]" if out["identical"] else "[red]DIFFERENT[/]"
        con.print(f"reproduce: {name} v{out['version']}: predictions on {out['rows']} test rows are {verdict} "
                  f"({out['matching_rows']} match)")
        if out["model_file_identical"] is not None:
            con.print("the model file is byte-identical to the registered one" if out["model_file_identical"]
                      else "the model file differs from the registered one (same predictions can still come "
                           "from a different fit, e.g. a library version that changed)")
        changed = {k for k in set(out["versions_now"]) | set(out["versions_recorded"] or {})
                   if (out["versions_recorded"] or {}).get(k) != out["versions_now"].get(k)}
        if changed:
            con.print(f"library versions differ from the recorded ones: {', '.join(sorted(changed))}")
    return 0 if out["identical"] else 1
