"""mlci sweep: train a parameter grid in parallel and pick the best candidate

  mlci sweep -c mlci.yaml --grid grid.yaml [--jobs N] [--shard I/N] [--out DIR] [--publish-best]
  mlci sweep select --grid grid.yaml [--publish]  rank the grid's runs in this workspace (after unstash)
  mlci sweep select DIR|FILE... [--publish]      merge shard files and pick the best
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["select"],
                        help="`select`: merge shard files and name the best candidate")
    parser.add_argument("inputs", nargs="*", metavar="PATH",
                        help="for select: shard files or directories holding them")
    parser.add_argument("--grid", metavar="GRID_YAML", help="dotted config keys -> lists of values")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="parallel training processes (default 1)")
    parser.add_argument("--shard", metavar="I/N", help="run only shard I of N (1-based) of the grid")
    parser.add_argument("--out", metavar="DIR", help="where the sweep file goes (default .mlci/sweeps/<id>/)")
    parser.add_argument("--device", metavar="DEVICE",
                        help="auto | cpu | cuda | cuda:N; parallel jobs are spread over the GPUs")
    parser.add_argument("--force", action="store_true", help="retrain every combination")
    parser.add_argument("--publish-best", "--publish", dest="publish", action="store_true",
                        help="publish the best candidate (if blessed) as a new model version")
    parser.add_argument("--actor", help="who publishes (recorded in the audit log)")


def _table(title: str, sweep: dict) -> None:
    from mlci import ui

    best = sweep.get("best") or {}
    metric = sweep["metric"]
    rows = []
    for c in sweep["candidates"]:
        value = (c.get("metrics") or {}).get(metric)
        mark = "★" if best and c["index"] == best.get("index") else ""
        status = c["status"] if c["status"] != "ok" else ("blessed" if c.get("blessed") else "not blessed")
        rows.append([f"{mark}{c['index'] + 1}", c["label"], status, ui.fmt(value),
                     (c.get("error") or "")[:80] if c["status"] != "ok" else c.get("run_id"), c.get("shard") or ""])
    columns = ["#", "overrides", "result", metric, "run / error"]
    if any(c.get("shard") for c in sweep["candidates"]):
        columns.append("shard")
    else:
        rows = [r[:-1] for r in rows]
    direction = "higher" if sweep["greater_is_better"] else "lower"
    ui.table(f"{title} ({metric}: {direction} is better)", columns, rows)


def _verdict(sweep: dict) -> str:
    best = sweep.get("best")
    if best is None:
        return "[red]no candidate could be scored[/]"
    text = (f"best: #{best['index'] + 1} {best['label']} -> {sweep['metric']}="
            f"{best['metrics'][sweep['metric']]:.4f}, run {best['run_id']}")
    return f"[green]{text}[/]" if best.get("blessed") else f"[yellow]{text} (not blessed)[/]"


def run(args: argparse.Namespace) -> int:
    from mlci import sweep as sweep_mod
    from mlci import ui
    from mlci.errors import UsageError

    con = ui.console()
    if args.action == "select":
        if args.inputs:
            merged = sweep_mod.select([Path(p) for p in args.inputs])
        elif args.grid:
            merged = sweep_mod.select_from_workspace(Path(args.config), Path(args.grid))
        else:
            raise UsageError("select: pass --grid GRID_YAML (rank the runs in this workspace) "
                             "or the shard files / directories holding them")
        if args.json:
            pass
        elif not args.quiet:
            _table(f"sweep {merged['sweep_id']}: {len(merged['candidates'])} of {merged['combinations']}", merged)
            con.print(_verdict(merged))
        code = sweep_mod.exit_code(merged)
        if args.publish and code == 0:
            merged["published"] = sweep_mod.publish_best(Path(args.config), merged["best"], args.actor)
            if not args.json:
                con.print(f"[green]publish[/]: v{merged['published']['version']} ({merged['published']['status']})")
        if args.json:
            ui.print_json({**merged, "failures": sweep_mod.failures(merged, code)})
        return code

    if args.inputs:
        raise UsageError(f"unexpected arguments {' '.join(args.inputs)} (did you mean `mlci sweep select`?)")
    if not args.grid:
        raise UsageError("--grid GRID_YAML is required (or `mlci sweep select PATH...`)")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: expected 1 or more")
    shard = sweep_mod.parse_shard(args.shard)
    device = None
    if args.device:
        from mlci import devices

        device = devices.select(args.device)

    def finished(rec: dict) -> None:
        if args.quiet or args.json:
            return
        if rec["status"] == "ok":
            state = "blessed" if rec["blessed"] else "not blessed"
            con.print(f"  #{rec['index'] + 1} {rec['label']}: {rec['trained']}, {state} ({rec['duration_s']:.1f}s)",
                      markup=False)
        else:
            con.print(f"  #{rec['index'] + 1} {rec['label']}: failed (exit {rec['exit_code']}): {rec['error']}",
                      markup=False)

    result = sweep_mod.run_sweep(Path(args.config), Path(args.grid), jobs=args.jobs, shard=shard,
                                 force=args.force, device=device,
                                 out_dir=Path(args.out) if args.out else None, on_result=finished)
    code = sweep_mod.exit_code(result)
    if not args.json and not args.quiet:
        part = f", shard {result['shard']}" if result["shard"] else ""
        _table(f"sweep {result['sweep_id']}: {len(result['candidates'])} of {result['combinations']} "
               f"combinations{part}, {result['jobs']} jobs, {result['elapsed_s']:.1f}s", result)
        con.print(_verdict(result))
        con.print(f"sweep file: {result['file']}")
    if args.publish:
        if shard:
            raise UsageError("--publish-best with --shard: publish after `mlci sweep select` merged the shards")
        if code == 0:
            result["published"] = sweep_mod.publish_best(Path(args.config), result["best"], args.actor)
            if not args.json:
                con.print(f"[green]publish[/]: {result['name']} v{result['published']['version']} "
                          f"({result['published']['status']})")
    if args.json:
        ui.print_json({**result, "failures": sweep_mod.failures(result, code)})
    return code
