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
    from mlci.publish import publish

    project = load_project(args)
    run_ = project.run(args.run)
    if args.quiet or args.json:
        out = publish(project, run_, force=args.force, actor=args.actor)
    else:
        with ui.byte_progress() as on_bytes:
            out = publish(project, run_, force=args.force, actor=args.actor, on_bytes=on_bytes)
    if args.json:
        ui.print_json({**out, "failures": []})  # a failed publish raises; the CLI edge names it
    elif not args.quiet:
        ui.console().print(f"[green]publish[/]: {project.config.name} v{out['version']} {out['status']} in "
                           f"{out['store']} ({out.get('uploaded', 0)} files uploaded)")
    return 0
