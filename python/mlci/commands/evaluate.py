"""mlci evaluate"""

from __future__ import annotations

import argparse

from mlci.commands import add_force, add_run, load_project


def register(parser: argparse.ArgumentParser) -> None:
    add_run(parser)
    add_force(parser)


def run(args: argparse.Namespace) -> int:
    from mlci import gates, ui
    from mlci.evaluate import Evaluation, evaluate
    from mlci.runs import read_json

    project = load_project(args)
    run_ = project.run(args.run)
    out = evaluate(project, run_, force=args.force)
    evaluation: Evaluation = read_json(run_.file("evaluation.json"))
    if args.json:
        ui.print_json({**evaluation, "failures": gates.failures(evaluation["gates"])})
    else:
        base = evaluation.get("baseline") or {}
        bm = base.get("metrics") or {}
        ui.table(f"{project.config.name}: metrics" + (f" vs v{base['version']} ({base['alias']})" if base else ""),
                 ["metric", "candidate", "baseline", "change"],
                 [[k, ui.fmt(v), ui.fmt(bm.get(k)), ui.fmt(v - bm[k]) if k in bm else ""]
                  for k, v in evaluation["metrics"].items()])
        if evaluation["gates"]:
            ui.table("gates", ["gate", "result", "reason"],
                     [[gates.name(g),
                       {True: "pass", False: "FAIL", None: "skipped"}[g["passed"]], g["reason"]]
                      for g in evaluation["gates"]])
        verdict = "[green]blessed[/]" if evaluation["blessed"] else "[red]not blessed[/]"
        ui.console().print(f"evaluate: {verdict}" + (" (up to date)" if out["status"] == "up to date" else ""))
    return 0 if evaluation["blessed"] else 1
