"""mlci image build|verify|push -c mlci.yaml [--model NAME@VERSION|ALIAS | --run RUN]"""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    helps = {"build": "build the model server image (dependencies cached, the model as the last layer)",
             "verify": "run the image, check image.verify.examples and load-test it against the gates",
             "push": "push a verified image (version, git sha and extra tags) and record its digest"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        group = p.add_mutually_exclusive_group()
        group.add_argument("--model", metavar="NAME@REF", help="a registered version: NAME@VERSION or NAME@ALIAS")
        group.add_argument("--run", metavar="RUN", help="a run id or run directory (default: the latest run)")
        if name == "push":
            p.add_argument("--tag", action="append", default=[], help="an extra tag (repeatable)")
            p.add_argument("--force", action="store_true",
                           help="push even without a passing verify (recorded in image-push.json)")
    # the common options (-c, --json, -v, -q) are on the parent parser; accept them after the action too
    for p in sub.choices.values():
        p.add_argument("-c", "--config", dest="config_sub", default=None, metavar="PATH",
                       help="pipeline configuration (default: ./mlci.yaml)")
        p.add_argument("--json", dest="json_sub", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("-v", "--verbose", dest="verbose_sub", action="count", default=0, help=argparse.SUPPRESS)
        p.add_argument("-q", "--quiet", dest="quiet_sub", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from mlci import config, ui
    from mlci.image.target import select

    if getattr(args, "config_sub", None):
        args.config = args.config_sub
    args.json = args.json or getattr(args, "json_sub", False)
    args.verbose = args.verbose + getattr(args, "verbose_sub", 0)
    args.quiet = args.quiet or getattr(args, "quiet_sub", False)
    cfg = config.load(args.config)
    target = select(cfg, args.model, args.run)
    console = ui.console()

    def step(msg: str) -> None:
        if not args.quiet and not args.json:
            console.print(f"[dim]{args.action}[/]: {msg}")

    if args.action == "build":
        from mlci.image.build import build

        step(f"{target.name} {target.tag} on {cfg.image.base}")
        result = build(cfg, target, on_line=(lambda line: console.print(f"[dim]  {line}[/]"))
                       if args.verbose else None)
        if args.json:
            ui.print_json({**result, "failures": []})
        else:
            console.print(f"[green]build[/]: {result['tag']} ({result['image_id'][7:19]}), "
                          f"{result['cached_steps']} cached steps, {result['build_seconds']:.1f}s "
                          f"-> {target.records / 'image.json'}")
        return 0
    if args.action == "verify":
        from mlci.image.verify import verify

        result = verify(cfg, target, on_step=step)
        if args.json:
            ui.print_json(result)
        else:
            load = result["load"]
            ui.table(f"image verify: {result['tag']}", ["gate", "result", "value", "threshold", "detail"],
                     [[g["gate"], "pass" if g["passed"] else "FAIL", g.get("value"), g.get("threshold"),
                       g.get("detail")] for g in result["gates"]])
            console.print(f"load: {load['requests']} requests in {load['seconds']:.1f}s = {load['rps']:.0f}/s, "
                          f"p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms, p99 {load['p99_ms']} ms, "
                          f"errors {load['errors']}")
            console.print(("[green]verify: passed[/]" if result["passed"] else "[red]verify: FAILED[/]")
                          + f" -> {target.records / 'image-verify.json'}")
        return 0 if result["passed"] else 1
    from mlci.image.push import push

    result = push(cfg, target, args.tag, force=args.force, on_step=step)
    if args.json:
        ui.print_json({**result, "failures": []})  # an unverified image raises CheckFailed
    else:
        where = f", recorded on {result['recorded_on']}" if result["recorded_on"] else ""
        console.print(f"[green]push[/]: {result['reference']} (tags: {', '.join(result['tags'])}){where}")
    if not args.json:
        print(result["reference"])  # stdout: the one line scripts want
    return 0
