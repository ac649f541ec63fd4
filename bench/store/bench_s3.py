#!/usr/bin/env python3
"""Store (S3) benchmark: mlci's S3Store vs awscli vs a plain boto3 loop, same endpoint, same run,
with the floor for small files (floor_put.py: the standard library's HTTP from 16 threads).

The S3 server runs on 127.0.0.1: SeaweedFS (`weed server -s3`, a real object store, started the
way the tests start it: tests/python/s3_fixtures.py) by default, or moto's server. Every client
runs as its own process and is timed end to end (interpreter start, imports, transfer), as a
user would run it. mlci is `S3Store.publish_run` / `download_run` (what `mlci publish` and
`mlci fetch` do), with a workspace hash cache as `mlci publish` has, ending as the CLI does (its
objects frozen, so the exit does not free them one by one). Data: one large file and many small
files (defaults: 200 MB, 500 x 20 KB). With --base REV, mlci at that revision runs too, in turn
with the others ("mlci base" column): before and after, measured back to back. Both are run from
compiled bytecode, as a pip-installed mlci is (this environment may set PYTHONDONTWRITEBYTECODE).

The floor ("floor" column, small-file upload only) is floor_put.py: a fresh process sending the
same 500 PutObjects, SigV4-signed by hand (checked against botocore's signer first), from 16 threads
over keep-alive connections; no botocore, no retries, no store layout.

  .venv/bin/python bench/store/bench_s3.py [--server seaweedfs|moto|both] [--large-mb 200]
      [--small 500] [--small-kb 20] [--repeat 3] [--base REV]

awscli: bench/tools.sh awscli (bench/.venv-tools/bin/aws), else `aws` on PATH.
Prints a Markdown table (medians) and the ratios for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))  # the tests' S3 servers

MLCI_UP = """
import sys; from pathlib import Path
from mlci.store.s3 import S3Store
from mlci.util import HashCache
src = Path(sys.argv[2]); s = S3Store(sys.argv[1])
files = {p.relative_to(src).as_posix(): p for p in src.rglob('*') if p.is_file()}
m = s.publish_run(sys.argv[3], files, hashes=HashCache(Path(sys.argv[4]) / 'cache' / 'hashes.json'))
print(m['uploaded'], m['uploaded_bytes'])
import gc; gc.freeze()  # and exits as the mlci CLI does (cli.main)
"""
MLCI_DOWN = """
import sys; from pathlib import Path
from mlci.store.s3 import S3Store
S3Store(sys.argv[1]).download_run(sys.argv[2], Path(sys.argv[3]))
import gc; gc.freeze()  # and exits as the mlci CLI does (cli.main)
"""
BOTO_UP = """
import sys, boto3; from pathlib import Path
c = boto3.client('s3'); src = Path(sys.argv[2])
for p in sorted(src.rglob('*')):
    if p.is_file(): c.upload_file(str(p), sys.argv[1], sys.argv[3] + p.relative_to(src).as_posix())
"""
FLOOR = Path(__file__).with_name("floor_put.py")
CASES = ["large upload", "large download", "large republish unchanged",
         "small upload", "small download", "small republish unchanged"]
TOOLS = ["mlci", "mlci base", "aws s3 cp", "boto3 upload_file loop", "floor"]


def check_floor_signature() -> None:
    """floor_put.py signs as botocore does (else its figures would be a server's leniency)."""
    import hashlib
    from urllib.parse import quote

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    sys.path.insert(0, str(FLOOR.parent))
    from floor_put import signature, signing_key

    body, host = b"x" * 100, "127.0.0.1:8333"
    sha, uri = hashlib.sha256(body).hexdigest(), quote("/b/mlci/blobs/a b+c.bin", safe="/~")
    request = AWSRequest("PUT", f"http://{host}{uri}", data=body, headers={"x-amz-content-sha256": sha})
    S3SigV4Auth(Credentials("bench", "secret"), "s3", "us-east-1").add_auth(request)
    stamp = request.headers["X-Amz-Date"]
    mine = signature(signing_key("secret", stamp[:8], "us-east-1"), stamp, "us-east-1", "PUT", uri, host, sha)
    if not request.headers["Authorization"].endswith(f"Signature={mine}"):
        raise SystemExit("floor_put.py's SigV4 signature differs from botocore's")


def timed(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return elapsed, r.stdout.strip()


def make_data(root: Path, large_mb: int, small: int, small_kb: int) -> tuple[Path, Path]:
    large = root / "large"
    large.mkdir(parents=True)
    with open(large / "weights.bin", "wb") as f:
        for _ in range(large_mb):
            f.write(os.urandom(1 << 20))
    many = root / "small"
    for i in range(small):
        p = many / f"shard-{i // 100:02d}" / f"part-{i:04d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(small_kb * 1024))
    time.sleep(1.1)  # a run's files are written before it is published (the hash cache skips fresher ones)
    return large, many


def start_server(kind: str) -> tuple[str, subprocess.Popen | None]:
    if kind == "seaweedfs":
        from s3_fixtures import start_seaweed

        return start_seaweed(), None  # stopped when this process exits
    from s3_fixtures import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"http://127.0.0.1:{port}", proc


def bench(kind: str, args: argparse.Namespace, large: Path, many: Path, tmp: Path, aws: str | None,
          base_src: Path | None) -> None:
    import boto3

    endpoint, proc = start_server(kind)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1",
               # every tool sees these settings only, whatever ~/.aws holds (as Jenkins' withCredentials)
               AWS_CONFIG_FILE="/nonexistent/aws-config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials", PYTHONPATH=str(REPO / "python"))
    env.pop("MLCI_STORE", None)
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        for _ in range(100):
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        results: dict[tuple[str, str], list[float]] = {}
        notes: list[str] = []

        def record(tool: str, case: str, seconds: float) -> None:
            results.setdefault((tool, case), []).append(seconds)

        def empty(bucket: str) -> None:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

        def mlci_runner(tool: str, src_root: Path):
            menv = dict(env, PYTHONPATH=str(src_root))

            def run_mlci(bucket: str, case: str, src: Path, trial: int) -> None:
                workspace = tmp / f"ws-{kind}-{trial}-{case}-{tool.replace(' ', '-')}"
                up = [sys.executable, "-c", MLCI_UP, f"s3://{bucket}/mlci", str(src)]
                secs, _ = timed([*up, "r1", str(workspace)], menv)
                record(tool, f"{case} upload", secs)
                secs, out = timed([*up, "r2", str(workspace)], menv)
                record(tool, f"{case} republish unchanged", secs)
                if trial == 0:
                    notes.append(f"{tool} republish of the {case} set: files, bytes sent = {out}")
                dest = tmp / f"dl-mlci-{trial}-{case}"
                secs, _ = timed([sys.executable, "-c", MLCI_DOWN, f"s3://{bucket}/mlci", "r1", str(dest)], menv)
                record(tool, f"{case} download", secs)
                shutil.rmtree(dest)

            run_mlci.__name__ = f"run_{tool.replace(' ', '_')}"
            return run_mlci

        def run_aws(bucket: str, case: str, src: Path, trial: int) -> None:
            if not aws:
                return
            secs, _ = timed([aws, "s3", "cp", "--recursive", "--quiet", str(src), f"s3://{bucket}/aws/"], env)
            record("aws s3 cp", f"{case} upload", secs)
            secs, _ = timed([aws, "s3", "sync", "--quiet", str(src), f"s3://{bucket}/aws/"], env)
            record("aws s3 cp", f"{case} republish unchanged", secs)  # sync: the tool for it
            dest = tmp / f"dl-aws-{trial}-{case}"
            secs, _ = timed([aws, "s3", "cp", "--recursive", "--quiet", f"s3://{bucket}/aws/", str(dest)], env)
            record("aws s3 cp", f"{case} download", secs)
            shutil.rmtree(dest)

        def run_boto(bucket: str, case: str, src: Path, trial: int) -> None:
            secs, _ = timed([sys.executable, "-c", BOTO_UP, bucket, str(src), "boto/"], env)
            record("boto3 upload_file loop", f"{case} upload", secs)
            if case == "small":  # the floor: the same PUTs from a client that does nothing else
                secs, _ = timed([sys.executable, str(FLOOR), bucket, str(src), "floor/", "16"], env)
                record("floor", f"{case} upload", secs)

        runners = [mlci_runner("mlci", REPO / "python"), run_aws, run_boto]
        if base_src is not None:
            runners.insert(1, mlci_runner("mlci base", base_src))
        for trial in range(args.repeat):
            for case, src in (("large", large), ("small", many)):
                # each tool goes first in turn: a server's first big upload pays for its memory
                turn = trial % len(runners)
                order = runners[turn:] + runners[:turn]
                for runner in order:
                    bucket = f"bench-{trial}-{case}-{runner.__name__[4:].replace('_', '-')}"
                    client.create_bucket(Bucket=bucket)
                    # A store's bucket already holds objects. The first write into a new bucket
                    # costs SeaweedFS ~0.2 s (it grows volumes for the bucket's collection), and no
                    # tool should pay for that, nor pay it but the floor, which came second.
                    client.put_object(Bucket=bucket, Key="warm", Body=b"warm")  # empty would be filer metadata only
                    runner(bucket, case, src, trial)
                    empty(bucket)
                    client.delete_bucket(Bucket=bucket)
        if not aws:
            notes.append("awscli is not installed here (bench/tools.sh awscli): its columns are empty")

        tools = [t for t in TOOLS if any(tool == t for tool, _ in results)]
        print(f"\n### {kind}\n\nData: 1 x {args.large_mb} MB file (large); {args.small} x {args.small_kb} KB "
              f"files (small). Median of {args.repeat} runs, seconds, each a fresh process.\n")
        ratios = ["aws / mlci"] + (["mlci base / mlci"] if "mlci base" in tools else [])
        print("| case | " + " | ".join(tools) + " | " + " | ".join(ratios) + " |")
        print("|---|" + "---|" * (len(tools) + len(ratios)))
        med: dict[str, dict[str, float]] = {}
        for case in CASES:
            med[case] = {t: statistics.median(results[(t, case)]) for t in tools if (t, case) in results}
            m = med[case]
            cells = [f"{m[t]:.2f}" if t in m else "-" for t in tools]
            shown = [f"{m[a] / m['mlci']:.2f}x" if a in m and "mlci" in m else ""
                     for a in ("aws s3 cp", "mlci base")[:len(ratios)]]
            print(f"| {case} | " + " | ".join(cells) + " | " + " | ".join(shown) + " |")
        print("\nRepublish unchanged: aws uses `aws s3 sync` (compares size and time); mlci republishes by "
              "content, with the workspace's hash cache (size and mtime).")
        for n in notes:
            print(f"- {n}")
        if aws:
            print(f"\nRatios on {kind} (medians; above 1: mlci faster):")
            for label, case, goal in (("republish unchanged vs aws s3 sync", "small republish unchanged", 1.5),
                                      ("republish unchanged (large) vs aws s3 sync", "large republish unchanged", 1.5),
                                      ("small-file upload vs aws s3 cp --recursive", "small upload", 3.0)):
                m = med[case]
                base = f"; mlci base: {m['aws s3 cp'] / m['mlci base']:.2f}x" if "mlci base" in m else ""
                print(f"- {label}: {m['aws s3 cp'] / m['mlci']:.2f}x (goal {goal}x){base}")
            m = med["small upload"]
            print(f"- small-file upload, the floor: floor / mlci {m['floor'] / m['mlci']:.2f}x, aws / floor "
                  f"{m['aws s3 cp'] / m['floor']:.2f}x (the most any client could be faster than aws here)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["seaweedfs", "moto", "both"], default="seaweedfs")
    ap.add_argument("--large-mb", type=int, default=200)
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--small-kb", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", help="also run mlci at this git revision (before / after, back to back)")
    args = ap.parse_args()
    check_floor_signature()

    tools_aws = REPO / "bench" / ".venv-tools" / "bin" / "aws"
    aws = str(tools_aws) if tools_aws.is_file() else shutil.which("aws")
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-s3-"))
    try:
        large, many = make_data(tmp / "data", args.large_mb, args.small, args.small_kb)
        base_src = None
        if args.base:
            base_src = tmp / "base"
            base_src.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base, "python/mlci"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive, check=True)
            base_src = base_src / "python"
        for src_root in [REPO / "python", base_src]:  # bytecode, as pip leaves an installed package
            if src_root is not None:
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(src_root / "mlci")], check=True)
        if aws:
            r = subprocess.run([aws, "--version"], capture_output=True, text=True)
            version = (r.stdout or r.stderr).strip()
            print(f"awscli: {aws} ({version})")
        for kind in (["seaweedfs", "moto"] if args.server == "both" else [args.server]):
            bench(kind, args, large, many, tmp, aws, base_src)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
