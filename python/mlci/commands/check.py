"""`mlci check`: run the team's own code checks (lint, unit tests) listed under `checks:`.

Exit 0 when every blocking check passed (a failed non-blocking check makes the result
"unstable": checks.json and --json say so, and the Jenkins step marks the build UNSTABLE);
exit 1 when a blocking check failed, timed out, was missing or was skipped; exit 2 for a bad
config or an unknown --only name.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                        help="run only these checks (names, or comma-separated); their `needs` "
                             "outside the selection count as met")
    parser.add_argument("--junit", metavar="PATH",
                        help="merged JUnit XML to write (default: OUT/junit.xml)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for checks.json, junit.xml and logs/ "
                             "(default: .mlci/checks next to mlci.yaml)")
    parser.add_argument("-j", "--jobs", type=_positive_int, metavar="N",
                        help="checks run at once (default: the CPU count)")


def _terminate(signum: int, frame: object) -> None:
    # Jenkins aborts a build with SIGTERM: turn it into KeyboardInterrupt so the running
    # checks' process groups are killed on the way out.
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from mlci import config as config_mod, ui
    from mlci.checks import output, runner
    from mlci.errors import CheckFailed

    config = config_mod.load(args.config)
    out_dir = Path(args.out) if args.out else config.resolve(".mlci/checks")
    junit = Path(args.junit) if args.junit else None
    reporter = output.StreamReporter(
        [c.name for c in runner.select(config.checks, args.only)], quiet=args.quiet)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        result = runner.run_checks(config, out_dir, only=args.only, jobs=args.jobs,
                                   junit_path=junit, reporter=reporter)
    finally:
        signal.signal(signal.SIGTERM, previous)

    if result["result"] == "unstable":
        result["note"] = ("UNSTABLE: non-blocking checks failed: "
                          f"{', '.join(result['failed_non_blocking'])}; mark the build unstable")
    if args.json:
        ui.print_json(result)
    elif not args.quiet:
        if result["checks"]:
            ui.table(None, ["check", "status", "time", "blocking", "details"],
                     [(r["name"], r["status"], f"{r['duration_s']:.1f} s",
                       "yes" if r["blocking"] else "no", _details(r)) for r in result["checks"]])
        if result["passed"]:
            ui.console().print(result["summary"], markup=False)
        ui.console().print(f"results: {result['checks_json']}; JUnit: {result['junit']}",
                           markup=False)

    if not result["passed"]:
        raise CheckFailed(result["summary"], failures=result["failures"])
    if result["unstable"] and args.quiet:
        print(f"mlci check: {result['summary']}", file=sys.stderr)
    return 0


def _details(record: dict) -> str:
    parts = [record["message"]] if record["message"] else []
    tests = record.get("tests")
    if tests:
        parts.append(f"{tests['tests']} tests, {tests['failures']} failures, "
                     f"{tests['errors']} errors, {tests['skipped']} skipped")
    return "; ".join(parts)
