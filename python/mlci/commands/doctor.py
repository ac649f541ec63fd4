"""mlci doctor: check the infrastructure before a pipeline runs"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docker", action="store_true", help="require a reachable Docker daemon")
    parser.add_argument("--gpu", action="store_true", help="require a working GPU (nvidia-smi)")
    parser.add_argument("--s3", nargs="?", const=True, default=None, metavar="S3_URI",
                        help="require the S3 store (the configured one, or S3_URI) to be writable")
    parser.add_argument("--registry", nargs="?", const=True, default=None, metavar="HOST[:PORT]",
                        help="require the registry of image.repository (or HOST) to answer GET /v2/")
    parser.add_argument("--jenkins", action="store_true",
                        help="require JENKINS_URL to answer with JENKINS_USER/JENKINS_TOKEN")
    parser.add_argument("--min-free-gb", type=float, default=2.0, metavar="GB",
                        help="warn when less disk is free (default 2)")


def run(args: argparse.Namespace) -> int:
    from mlci import doctor, ui

    want = {"docker": args.docker, "gpu": args.gpu, "s3": args.s3, "registry": args.registry,
            "jenkins": args.jenkins}
    checks = doctor.run_checks(Path(args.config), args.config != "mlci.yaml", want,
                               dict(os.environ), args.min_free_gb)
    code = doctor.exit_code(checks)
    if args.json:
        ui.print_json(doctor.as_json(checks))
        return code
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}
    ui.table("mlci doctor", ["check", "status", "required", "detail"],
             [[c.name, marks[c.status], "yes" if c.required else "", c.detail] for c in checks])
    failed = [c.name for c in checks if c.failed_required]
    con = ui.console()
    if failed:
        con.print(f"[red]doctor: required check failed: {', '.join(failed)}[/]")
    else:
        warns = [c.name for c in checks if c.status == "warn"]
        con.print("[green]doctor: ready[/]" + (f" (warnings: {', '.join(warns)})" if warns else ""))
    return code
