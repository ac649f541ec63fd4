#!/usr/bin/env python3
"""What one `mlci` command on S3 costs: this checkout vs an earlier revision (--base), with
`aws s3 ls` (awscli's cheapest command) as the yardstick of a Python S3 client's start-up.

A SeaweedFS server (started as the tests start it) holds a published model. Each command runs as
its own process, base and this checkout alternating, timed end to end:
  mlci publish            a trained and evaluated run to a fresh prefix (hash, upload, register)
  mlci fetch bc@1         download and verify the model
  mlci registry list bc   one page of versions
  aws s3 ls               one LIST (awscli)
and `python -X importtime` says what each checkout's S3 command imports (boto3, botocore).

  .venv/bin/python bench/store/bench_s3_cli.py [--base cc8ac81] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_s3 import timed as timed_out

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    return timed_out(cmd, env, cwd)[0]


def imports(env: dict[str, str], cwd: Path, args: list[str], runs: int = 5) -> str:
    """The S3 client's share of a command's imports (python -X importtime, self times summed;
    the median of ``runs``)."""
    groups = {"boto3 + s3transfer": ("boto3", "s3transfer"), "botocore + urllib3, dateutil, jmespath":
              ("botocore", "urllib3", "dateutil", "jmespath"), "every module": ()}
    seconds: dict[str, list[float]] = {g: [] for g in groups}
    count = dict.fromkeys(groups, 0)
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlci", *args], env=env, cwd=cwd,
                           capture_output=True, text=True)
        total, count = dict.fromkeys(groups, 0.0), dict.fromkeys(groups, 0)
        for line in r.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                own, _, name = (c.strip() for c in line.removeprefix("import time:").split("|"))
                for group, roots in groups.items():
                    if own.isdigit() and (not roots or name.split(".")[0] in roots):
                        total[group] += int(own) / 1e6
                        count[group] += 1
        for g in groups:
            seconds[g].append(total[g])
    return "; ".join(f"{g}: {count[g]} modules, {statistics.median(seconds[g]):.2f} s" for g in groups)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="cc8ac81", help="the revision to compare with (default: before issue 22)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from projects import classification_project
    from s3_fixtures import make_bucket, start_seaweed

    endpoint = start_seaweed()
    bucket = make_bucket(endpoint)
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-s3cli-"))
    try:
        base_src = tmp / "base"
        base_src.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base, "python"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive, check=True)
        for src_root in (base_src, REPO):  # bytecode, as pip leaves an installed package (whatever
            # PYTHONDONTWRITEBYTECODE says here), for both alike
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src_root / "python" / "mlci")], check=True)
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1",
                   # every tool sees these settings only, whatever ~/.aws holds (as Jenkins' withCredentials)
                   AWS_CONFIG_FILE="/nonexistent/aws-config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials")
        env.pop("MLCI_STORE", None)
        checkouts = {f"base {args.base}": dict(env, PYTHONPATH=str(base_src / "python")),
                     "this checkout": dict(env, PYTHONPATH=str(REPO / "python"))}
        project = tmp / "project"
        cfg = classification_project(project, store={"uri": f"s3://{bucket}/shared"})
        mlci = [sys.executable, "-m", "mlci"]
        for step in ("train", "evaluate", "publish"):
            timed([*mlci, step, "-q", "-c", str(cfg)], checkouts["this checkout"], project)
        tools_aws = REPO / "bench" / ".venv-tools" / "bin" / "aws"
        aws = str(tools_aws) if tools_aws.is_file() else shutil.which("aws")

        results: dict[tuple[str, str], list[float]] = {}
        for trial in range(args.repeat):
            for name, cenv in (list(checkouts.items()) if trial % 2 == 0 else list(checkouts.items())[::-1]):
                store = f"s3://{bucket}/{'base' if name.startswith('base') else 'new'}-{trial}"
                publish = dict(cenv, MLCI_STORE=store)
                for case, cmd, e in (
                        ("mlci publish (fresh prefix)", [*mlci, "publish", "-q", "-c", str(cfg), "--force"], publish),
                        ("mlci fetch bc@1", [*mlci, "fetch", "bc@1", "-q", "-o", str(tmp / f"o-{trial}"),
                                             "--store", store], cenv),
                        ("mlci registry list bc", [*mlci, "registry", "list", "bc", "--store", store], cenv)):
                    results.setdefault((case, name), []).append(timed(cmd, e, project))
                shutil.rmtree(tmp / f"o-{trial}", ignore_errors=True)
            if aws:
                results.setdefault(("aws s3 ls (one LIST)", "awscli"), []).append(
                    timed([aws, "s3", "ls", f"s3://{bucket}/shared/"], env, project))

        names = list(checkouts)
        print(f"\nSeconds per command, median of {args.repeat}, each a fresh process (SeaweedFS on 127.0.0.1).\n")
        print(f"| command | {names[0]} | {names[1]} | before / after |")
        print("|---|---|---|---|")
        for case in ("mlci publish (fresh prefix)", "mlci fetch bc@1", "mlci registry list bc"):
            a, b = (statistics.median(results[(case, n)]) for n in names)
            print(f"| {case} | {a:.2f} | {b:.2f} | {a / b:.2f}x |")
        if aws:
            print(f"| aws s3 ls (one LIST), awscli | {statistics.median(results[('aws s3 ls (one LIST)', 'awscli')]):.2f}"
                  " | | |")
        print("\nImports of `mlci fetch` on S3 (python -X importtime, self times summed, median of 5):")
        for name, cenv in checkouts.items():
            print(f"- {name}: {imports(cenv, project, ['fetch', 'bc@1', '-q', '-o', str(tmp / ('oi-' + name[:4])), '--store', f's3://{bucket}/shared'])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
