#!/usr/bin/env python3
"""Store (S3) benchmark: mlci's S3Store vs awscli vs a plain boto3 loop, same endpoint.

A moto server runs in its own process on 127.0.0.1 (S3 REST over HTTP); every client runs as
its own process and is timed end to end (interpreter start, imports, transfer), as a user
would run it. Data: one large file and many small files (defaults: 200 MB, 500 x 20 KB).

  python3 bench/store/bench_s3.py [--large-mb 200] [--small 500] [--small-kb 20] [--repeat 3]

Prints a Markdown table (medians) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MLCI_UP = """
import sys; from pathlib import Path
from mlci.store.s3 import S3Store
src = Path(sys.argv[2]); s = S3Store(sys.argv[1])
files = {p.relative_to(src).as_posix(): p for p in src.rglob('*') if p.is_file()}
m = s.publish_run(sys.argv[3], files)
print(m['uploaded'], m['uploaded_bytes'])
"""
MLCI_DOWN = """
import sys; from pathlib import Path
from mlci.store.s3 import S3Store
S3Store(sys.argv[1]).download_run(sys.argv[2], Path(sys.argv[3]))
"""
BOTO_UP = """
import sys, boto3; from pathlib import Path
c = boto3.client('s3'); src = Path(sys.argv[2])
for p in sorted(src.rglob('*')):
    if p.is_file(): c.upload_file(str(p), sys.argv[1], sys.argv[3] + p.relative_to(src).as_posix())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
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
    return large, many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-mb", type=int, default=200)
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--small-kb", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(REPO / "python"))
    env.pop("MLCI_STORE", None)
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-s3-"))
    try:
        import boto3

        for _ in range(100):
            try:
                client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id="bench", aws_secret_access_key="bench")
                client.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        large, many = make_data(tmp / "data", args.large_mb, args.small, args.small_kb)
        aws = shutil.which("aws")
        results: dict[tuple[str, str], list[float]] = {}
        notes: list[str] = []

        def record(tool: str, case: str, seconds: float) -> None:
            results.setdefault((tool, case), []).append(seconds)

        def empty(bucket: str) -> None:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

        def run_mlci(bucket: str, case: str, src: Path, trial: int) -> None:
            secs, _ = timed([sys.executable, "-c", MLCI_UP, f"s3://{bucket}/mlci", str(src), "r1"], env)
            record("mlci", f"{case} upload", secs)
            secs, out = timed([sys.executable, "-c", MLCI_UP, f"s3://{bucket}/mlci", str(src), "r2"], env)
            record("mlci", f"{case} republish unchanged", secs)
            if trial == 0:
                notes.append(f"mlci republish of the {case} set: files, bytes sent = {out}")
            dest = tmp / f"dl-mlci-{trial}-{case}"
            secs, _ = timed([sys.executable, "-c", MLCI_DOWN, f"s3://{bucket}/mlci", "r1", str(dest)], env)
            record("mlci", f"{case} download", secs)
            shutil.rmtree(dest)

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

        runners = [run_mlci, run_aws, run_boto]
        for trial in range(args.repeat):
            for case, src in (("large", large), ("small", many)):
                # each tool goes first in turn: the server's first big upload pays for memory
                order = runners[trial % 3:] + runners[:trial % 3]
                for runner in order:
                    bucket = f"bench-{trial}-{case}-{runner.__name__[4:]}"
                    client.create_bucket(Bucket=bucket)
                    runner(bucket, case, src, trial)
                    empty(bucket)
                    client.delete_bucket(Bucket=bucket)
        if not aws:
            notes.append("awscli is not installed here: its columns are empty")

        cases = ["large upload", "large download", "large republish unchanged",
                 "small upload", "small download", "small republish unchanged"]
        tools = ["mlci", "aws s3 cp", "boto3 upload_file loop"]
        print(f"\nData: 1 x {args.large_mb} MB file (large); {args.small} x {args.small_kb} KB files (small). "
              f"Median of {args.repeat} runs, seconds, each a fresh process.\n")
        print("| case | " + " | ".join(tools) + " | aws / mlci |")
        print("|---|" + "---|" * (len(tools) + 1))
        for case in cases:
            med = {t: statistics.median(results[(t, case)]) for t in tools if (t, case) in results}
            ratio = f"{med['aws s3 cp'] / med['mlci']:.2f}x" if "aws s3 cp" in med and "mlci" in med else ""
            cells = [f"{med[t]:.2f}" if t in med else "-" for t in tools]
            print(f"| {case} | " + " | ".join(cells) + f" | {ratio} |")
        print("\nRepublish unchanged: aws uses `aws s3 sync` (compares size and time); mlci republishes by content.")
        for n in notes:
            print(f"- {n}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
