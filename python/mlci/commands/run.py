"""mlci run: the whole pipeline"""

from __future__ import annotations

import argparse
import time

from mlci.commands import add_force, load_project


def register(parser: argparse.ArgumentParser) -> None:
    add_force(parser)
    parser.add_argument("--promote", action="store_true",
                        help="promote a blessed new version to promote.alias (as `promote.auto: true`)")
    parser.add_argument("--actor", help="who runs it (recorded in the audit log)")
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                        help="write the run's report to .mlci/runs/<run-id>/report/ (default: on)")


def run(args: argparse.Namespace) -> int:
    from mlci import preload, ui
    from mlci.pipeline import as_dict, failures, prepare_report, run_pipeline, write_report

    t0 = time.perf_counter()
    project = load_project(args)
    if args.report:
        preload.later(prepare_report)
    con = ui.console()
    marks = {"ran": "[green]✓[/]", "up to date": "[cyan]=[/]", "failed": "[red]✗[/]", "skipped": "-",
             "unstable": "[yellow]![/]"}
    with con.status("starting") as status:
        def started(name: str) -> None:
            status.update(f"{name} ...")

        def finished(res: object) -> None:
            if not args.quiet:
                con.print(f"{marks[res.status]} {res.stage:<9} {res.status:<11} {res.detail}")

        results = run_pipeline(project, force=args.force, promote=args.promote, actor=args.actor,
                               on_stage=finished, on_start=started)
        status.update("report ...")
        report = write_report(project, results) if args.report else None
    elapsed = time.perf_counter() - t0
    code = next((r.exit_code for r in results if r.exit_code), 0)
    if args.json:
        ui.print_json({"name": project.config.name, "exit_code": code, "elapsed_s": round(elapsed, 3),
                       "stages": as_dict(results), "failures": failures(results),
                       "report": report and report["files"].get("report.html")})
    else:
        ui.table(f"{project.config.name}: pipeline summary ({elapsed:.2f}s)", ["stage", "status", "time", "detail"],
                 [[r.stage, r.status, f"{r.duration_s:.2f}s", r.detail] for r in results])
        if all(r.status == "up to date" for r in results):
            con.print("[cyan]everything up to date[/]")
        if report and report["files"].get("report.html"):
            con.print(f"report: {report['files']['report.html']}")
    return code
