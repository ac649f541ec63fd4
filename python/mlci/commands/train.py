"""mlci train"""

from __future__ import annotations

import argparse

from mlci.commands import add_force, load_project


def register(parser: argparse.ArgumentParser) -> None:
    add_force(parser)


def run(args: argparse.Namespace) -> int:
    from mlci import train, ui

    project = load_project(args)
    con = ui.console()
    with con.status("train: starting") as status:
        out = train.train(project, force=args.force, on_step=lambda m: status.update(f"train: {m}"))
    if args.json:
        ui.print_json(out)
    elif out["status"] == "up to date":
        con.print(f"[green]train[/]: up to date (run {out['run_id']})")
    else:
        con.print(f"[green]train[/]: trained {out['estimator']} on {out['n_train']} rows in "
                  f"{out['fit_s']:.2f}s -> {project.runs_dir / out['run_id']}")
    return 0
