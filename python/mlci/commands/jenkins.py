"""`mlci jenkins`: jobs as code, builds and promotion inputs from a terminal.

  mlci jenkins apply -c mlci.yaml [--dry-run]
  mlci jenkins trigger JOB [--param K=V ...] [--wait] [--timeout S]
  mlci jenkins pending JOB [BUILD]
  mlci jenkins approve JOB BUILD [--input-id Promote] [--reason TEXT]
  mlci jenkins abort JOB BUILD [--input-id Promote]

Connection: JENKINS_URL (else `jenkins.url` in mlci.yaml), JENKINS_USER, JENKINS_TOKEN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Connection from JENKINS_URL (else jenkins.url in mlci.yaml), JENKINS_USER and "
                     "JENKINS_TOKEN. Exit codes: 0 ok; 1 build not SUCCESS; 2 bad input, bad "
                     "credentials or missing job; 3 Jenkins unreachable or timeout.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("apply", help="create or update the project's jobs from mlci.yaml")
    p.add_argument("--dry-run", action="store_true", help="show the diff to each job's config.xml; change nothing")

    p = sub.add_parser("trigger", help="queue a build and follow it")
    p.add_argument("job", metavar="JOB", help="job path, e.g. team/model-nightly (or its URL)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", default=[],
                   help="build parameter (repeat for more)")
    p.add_argument("--wait", action="store_true",
                   help="follow the build to its end and exit with its result")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up waiting after this long (default: 300 to start, 7200 with --wait)")

    p = sub.add_parser("pending", help="list pending inputs (promotion approvals)")
    p.add_argument("job", metavar="JOB")
    p.add_argument("build", metavar="BUILD", nargs="?", type=int, help="build number; default: all running")

    for name, text in (("approve", "approve a pending input (Proceed)"),
                       ("abort", "reject a pending input (Abort); the build ends ABORTED")):
        p = sub.add_parser(name, help=text)
        p.add_argument("job", metavar="JOB")
        p.add_argument("build", metavar="BUILD", type=int)
        p.add_argument("--input-id", default=None, metavar="ID",
                       help="input step id (default: jenkins.promote_input, `Promote`)")
        if name == "approve":
            p.add_argument("--reason", default=None, metavar="TEXT",
                           help="why; sent as the input's reason parameter (recorded in the audit log)")
            p.add_argument("--param", action="append", metavar="NAME=VALUE", default=[],
                           help="another input parameter (others are sent with their defaults)")


def _settings(args: argparse.Namespace, required: bool) -> tuple[Any, Any]:
    """(Config or None, jenkins settings). apply needs mlci.yaml; the others use it if present."""
    from mlci import config
    from mlci.jenkins.settings import Jenkins

    path = Path(args.config)
    if not required and not path.exists():
        return None, Jenkins()
    cfg = config.load(path)
    return cfg, cfg.jenkins


def _client(settings: Any):
    from mlci.jenkins.client import Connection, JenkinsClient

    return JenkinsClient(Connection.from_env(settings.url))


def run(args: argparse.Namespace) -> int:
    handler = {"apply": _apply, "trigger": _trigger, "pending": _pending,
               "approve": _approve, "abort": _abort}[args.action]
    return handler(args)


# -- apply ------------------------------------------------------------------------------------

def _apply(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.jenkins import jobs

    cfg, settings = _settings(args, required=True)
    specs = jobs.render_jobs(cfg)
    client = _client(settings)
    changes = jobs.plan(client, specs)
    out = ui.console()
    if args.dry_run:
        if args.json:
            ui.print_json({"dry_run": True, "jobs": [dict(c.as_dict(), diff=c.diff) for c in changes]})
            return 0
        for c in changes:
            verb = {"create": "would create", "update": "would update", "unchanged": "unchanged"}[c.action]
            if not args.quiet:
                out.print(f"{verb} {c.spec.kind} `{c.spec.name}`")
            if c.diff:
                sys.stdout.write(c.diff)
        sys.stdout.flush()
        return 0

    def report(c: Any) -> None:
        if not args.json and not args.quiet:
            verb = {"create": "created", "update": "updated", "unchanged": "unchanged"}[c.action]
            print(f"{verb} {c.spec.kind} `{c.spec.name}`: {c.url}")

    jobs.apply(client, changes, on_change=report)
    if args.json:
        ui.print_json({"dry_run": False, "jobs": [c.as_dict() for c in changes]})
    return 0


# -- trigger ----------------------------------------------------------------------------------

_STYLE = {"SUCCESS": "green", "FAILED": "red", "UNSTABLE": "yellow", "ABORTED": "magenta",
          "IN_PROGRESS": "cyan", "PAUSED_PENDING_INPUT": "yellow", "NOT_EXECUTED": "dim"}


def _seconds(ms: Any) -> str:
    return f" ({ms / 1000:.1f} s)" if isinstance(ms, (int, float)) and ms > 0 else ""


def _trigger(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.jenkins import builds
    from mlci.jenkins.client import normalize_job_name

    _, settings = _settings(args, required=False)
    client = _client(settings)
    job = normalize_job_name(args.job, client.url)
    params = builds.parse_params(args.param)
    timeout = args.timeout if args.timeout is not None else (7200.0 if args.wait else 300.0)
    if timeout <= 0:
        from mlci.errors import UsageError
        raise UsageError(f"--timeout {args.timeout}: expected a positive number of seconds")
    from rich.markup import escape

    out = ui.console()
    quiet = args.quiet
    status = None
    started: dict[str, Any] = {}
    if out.is_terminal and not quiet:
        status = out.status(f"queueing `{job}`")
        status.start()

    def on_event(kind: str, data: dict) -> None:
        if quiet:
            return
        if kind == "queued":
            line = f"queued `{job}` (queue item {data['queue_id']})"
        elif kind == "waiting":
            line = f"waiting in the queue: {data['why']}"
        elif kind == "started":
            started.update(data)
            line = f"started `{job}` #{data['number']}: {data['url']}"
        elif kind == "stage":
            st = data.get("status")
            line = (f"stage [bold]{escape(str(data.get('name')))}[/]: [{_STYLE.get(st, 'white')}]{st}[/]"
                    f"{_seconds(data.get('durationMillis')) if st in builds.STAGE_DONE else ''}")
        elif kind == "input":
            number = started.get("number", "BUILD")
            line = (f"waiting for input `{data.get('id')}`: {data.get('message')} — answer with "
                    f"`mlci jenkins approve {job} {number} --reason TEXT` or `mlci jenkins abort {job} {number}`")
        else:
            return
        out.print(line, markup=kind == "stage", highlight=False, soft_wrap=True)
        if status is not None:
            status.update(line if kind != "stage" else f"`{job}`: stage {data.get('name')} {data.get('status')}")

    try:
        outcome = builds.trigger(client, job, params, args.wait, timeout, on_event)
    finally:
        if status is not None:
            status.stop()
    if args.json:
        ui.print_json({**outcome.as_dict(), "failures": builds.failures(outcome)})
    elif outcome.result is None:
        print(f"{job} #{outcome.number} started: {outcome.url}")
    else:
        print(f"{job} #{outcome.number} {outcome.result}: {outcome.url}")
        if outcome.result not in ("SUCCESS",) and not quiet:
            tail = client.console_text(job, outcome.number).splitlines()[-15:]
            if tail:
                out.print("last lines of the console log:", highlight=False)
                out.print("\n".join("  " + line for line in tail), markup=False, highlight=False)
    builds.result_exit(outcome)
    return 0


# -- inputs -----------------------------------------------------------------------------------

def _pending(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.jenkins import builds
    from mlci.jenkins.client import normalize_job_name

    _, settings = _settings(args, required=False)
    client = _client(settings)
    job = normalize_job_name(args.job, client.url)
    items = builds.pending(client, job, args.build)
    if args.json:
        ui.print_json([i.as_dict() for i in items])
        return 0
    if not items:
        where = f"build #{args.build} of `{job}`" if args.build is not None else f"running builds of `{job}`"
        print(f"no pending inputs in {where}")
        return 0
    for i in items:
        params = ", ".join(str(p.get("name")) for p in i.parameters) or "-"
        print(f"{job} #{i.number}  input {i.id}: {i.message}  (parameters: {params})")
        print(f"  approve: mlci jenkins approve {job} {i.number} --input-id {i.id} --reason '...'")
        print(f"  reject:  mlci jenkins abort {job} {i.number} --input-id {i.id}")
    return 0


def _approve(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.jenkins import builds
    from mlci.jenkins.client import normalize_job_name

    _, settings = _settings(args, required=False)
    client = _client(settings)
    job = normalize_job_name(args.job, client.url)
    result = builds.approve(client, job, args.build, args.input_id or settings.promote_input,
                            args.reason, settings.reason_parameter, builds.parse_params(args.param))
    if args.json:
        ui.print_json(result)
    else:
        why = f" (reason: {args.reason})" if args.reason else ""
        print(f"approved input `{result['input_id']}` of `{job}` #{args.build} as `{result['approver']}`{why}")
    return 0


def _abort(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.jenkins import builds
    from mlci.jenkins.client import normalize_job_name

    _, settings = _settings(args, required=False)
    client = _client(settings)
    job = normalize_job_name(args.job, client.url)
    result = builds.abort(client, job, args.build, args.input_id or settings.promote_input)
    if args.json:
        ui.print_json(result)
    else:
        print(f"aborted input `{result['input_id']}` of `{job}` #{args.build} as `{result['aborted_by']}`; "
              "the build ends ABORTED, nothing is promoted")
    return 0
