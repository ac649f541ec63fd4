"""mlci train"""

from __future__ import annotations

import argparse

from mlci.commands import add_force, load_project


def register(parser: argparse.ArgumentParser) -> None:
    add_force(parser)
    parser.add_argument("--device", metavar="DEVICE",
                        help="auto | cpu | cuda | cuda:N (default: train.device in mlci.yaml, else auto)")
    parser.add_argument("--in-container", action="store_true", default=None,
                        help="train inside the agent image (train.container.image) with the GPUs passed through")
    parser.add_argument("--no-container", dest="in_container", action="store_false",
                        help="train here even if train.in_container is set")
    parser.add_argument("--image", help="image for --in-container (default: train.container.image)")


def run(args: argparse.Namespace) -> int:
    from mlci import devices, train, ui

    project = load_project(args)
    cfg = project.config
    con = ui.console()
    device = devices.for_training(args.device or cfg.train.device, cfg.model.trainer)

    def show(line: str) -> None:
        if not args.quiet:
            con.print(line, markup=False, highlight=False)

    with con.status("train: starting") as status:
        out = train.train(project, force=args.force, on_step=lambda m: status.update(f"train: {m}"),
                          device=device, on_output=show, in_container=args.in_container, image=args.image)
    if args.json:
        ui.print_json({**out, "failures": []})  # a failed training raises; the CLI edge names it
    elif out["status"] == "up to date":
        con.print(f"[green]train[/]: up to date (run {out['run_id']})")
    else:
        on = f" on {device.describe()}" if device.kind == "cuda" else ""
        where = f" in {out['container']['image']}" if out.get("container") else ""
        con.print(f"[green]train[/]: trained {out['estimator']} on {out['n_train']} rows{on}{where} in "
                  f"{out['fit_s']:.2f}s -> {project.runs_dir / out['run_id']}")
        for reason in out.get("retrain_reasons") or []:
            con.print(f"  because: {reason}", markup=False)
    return 0
