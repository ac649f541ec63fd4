"""mlci publish"""

from __future__ import annotations

import argparse

from mlci.commands import add_force, add_run, load_project


def register(parser: argparse.ArgumentParser) -> None:
    add_run(parser)
    add_force(parser)
    parser.add_argument("--actor", help="who publishes (default: MLCI_ACTOR, BUILD_USER_ID or the user)")


def run(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.publish import publish, run_files

    project = load_project(args)
    run_ = project.run(args.run)
    total = len(run_files(run_))
    with ui.progress() as bar:
        task = bar.add_task("publish: uploading", total=total)
        out = publish(project, run_, force=args.force, actor=args.actor,
                      on_file=lambda rel, size: bar.advance(task))
    if args.json:
        ui.print_json(out)
    else:
        ui.console().print(f"[green]publish[/]: {project.config.name} v{out['version']} {out['status']} in "
                           f"{out['store']} ({out.get('uploaded', 0)} files uploaded)")
    return 0
