"""mlci report: the HTML report, Markdown summary and gates JUnit of a run; `mlci report comment`
posts the summary on a pull request.

The report never fails the build: a missing piece is a note in it, and the exit code is 0
whether or not the model was blessed. Exit 2 only for bad usage (no run at all, bad config).
"""

from __future__ import annotations

import argparse
import os


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default="latest", metavar="RUN_ID",
                        help="run directory under .mlci/runs (default: the latest training)")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="where to write report.html, summary.md, report.json and junit-gates.xml "
                             "(default: .mlci/runs/<run-id>/report)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    c = sub.add_parser("comment", help="post summary.md as a pull-request comment (or update the earlier one)",
                       description="Post the report summary on a pull request, or update this model's earlier "
                                   "comment (found by a hidden marker). The token comes from GITHUB_TOKEN, "
                                   "GITLAB_TOKEN or BITBUCKET_TOKEN, never from the command line.")
    c.add_argument("--forge", required=True, choices=["github", "gitlab", "bitbucket-server"])
    c.add_argument("--repo", required=True, metavar="REPO",
                   help="OWNER/NAME (GitHub), GROUP/PROJECT (GitLab), PROJECT/REPO (Bitbucket Server)")
    c.add_argument("--pr", required=True, type=int, metavar="N", help="pull/merge request number")
    c.add_argument("--url", metavar="BASE",
                   help="API base: GitHub Enterprise https://ghe.example/api/v3, self-hosted GitLab "
                        "https://gitlab.example, Bitbucket Server https://bitbucket.example (required)")
    c.add_argument("--summary", metavar="FILE",
                   help="the Markdown to post (default: the latest run's report/summary.md)")
    # `mlci report comment -c x` must work too; SUPPRESS keeps the parent's values otherwise
    c.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="PATH", help=argparse.SUPPRESS)
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "comment":
        return _comment(args)
    from mlci import ui
    from mlci.commands import load_project
    from mlci.report import generate

    project = load_project(args)
    run_ = project.run(args.run, must_exist=False)
    if not run_.path.is_dir():
        from mlci.errors import NotFoundError

        raise NotFoundError(f"{run_.path}: no such run; run `mlci train` or `mlci run` first")
    out = generate(project, run_, args.output)
    if args.json:
        ui.print_json({**out, "failures": []})  # the report never fails the build
    elif not args.quiet:
        con = ui.console()
        color = {"blessed": "green", "not blessed": "red"}.get(out["decision"], "yellow")
        con.print(f"report: [{color}]{out['headline']}[/]")
        con.print(f"report: {out['files']['report.html']} ({out['size_bytes'] / 1024:.0f} KiB, "
                  f"{out['timings_s']['total']:.2f}s)")
        for note in out["notes"]:
            if note["section"] not in ("latency", "trend", "drift"):
                con.print(f"[dim]note: {note['section']}: {note['text']}[/]")
    return 0


def _comment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlci import ui
    from mlci.errors import NotFoundError
    from mlci.report.comment import post_comment

    if args.summary:
        path = Path(args.summary)
    else:
        from mlci.commands import load_project

        project = load_project(args)
        path = project.run("latest").path / "report" / "summary.md"
    if not path.is_file():
        raise NotFoundError(f"{path}: no summary to post; run `mlci report` first (or pass --summary FILE)")
    body = path.read_text(encoding="utf-8")
    result = post_comment(args.forge, args.repo, args.pr, body, base_url=args.url, env=os.environ)
    if args.json:
        ui.print_json({**result, "failures": []})
    elif not args.quiet:
        ui.console().print(f"report comment: {result['action']} comment {result['id']} on "
                           f"{args.forge} {args.repo} #{args.pr}")
    return 0
