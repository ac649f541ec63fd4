"""Peak memory of `mlci validate --chunk-rows` at 1M and 5M rows, beside a bare pyarrow pass
over the same files (whole-file read + compute, and a streaming read of the same batches),
for the Parquet file and the same data as CSV. Every run is its own process; peak RSS from
/usr/bin/time. Prints a Markdown table with the 5M / 1M ratio of each.

    python bench/validate/mem.py [--sizes 1000000 5000000] [--chunk-rows 250000] [--reps 2] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from run import HERE, REPO, measure

STREAM = """
import sys
import pyarrow.parquet as pq
pf = pq.ParquetFile(sys.argv[1], pre_buffer=False)
print(sum(b.num_rows for b in pf.iter_batches(batch_size=int(sys.argv[2]))), "rows")
"""
# Arrow's streaming CSV reader, blocks sized to hold about N rows as mlci sizes them
STREAM_CSV = """
import sys
import pyarrow.csv as pacsv
with open(sys.argv[1], "rb") as fh:
    head = fh.read(1 << 16)
block = int(len(head) / head.count(b"\\n") * int(sys.argv[2]))
reader = pacsv.open_csv(sys.argv[1], read_options=pacsv.ReadOptions(block_size=block))
print(sum(b.num_rows for b in reader), "rows")
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs=2, default=[1_000_000, 5_000_000])
    ap.add_argument("--chunk-rows", type=int, default=250_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--data", default=None, help="directory for the generated data (default: a temp dir)")
    args = ap.parse_args()

    root = Path(args.data or tempfile.mkdtemp(prefix="mlci-bench-mem-"))
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    py = sys.executable
    chunk = str(args.chunk_rows)
    mlci = [py, "-m", "mlci", "validate", "--data", "{data}", "--schema", str(HERE / "schema.yaml"),
            "--no-drift", "--out", str(root / "out"), "--chunk-rows", chunk, "-q"]
    runs: dict[str, tuple[str, list[str]]] = {
        "Parquet: bare pyarrow read whole + compute (arrow_check.py)":
            ("parquet", [py, str(HERE / "arrow_check.py"), "{data}"]),
        f"Parquet: bare pyarrow streaming read (iter_batches, {chunk} rows)":
            ("parquet", [py, "-c", STREAM, "{data}", chunk]),
        f"Parquet: mlci validate --chunk-rows {chunk} (ten rules incl. unique id)": ("parquet", mlci),
        f"CSV: bare pyarrow streaming read (open_csv, blocks of ~{chunk} rows)":
            ("csv", [py, "-c", STREAM_CSV, "{data}", chunk]),
        f"CSV: mlci validate --chunk-rows {chunk}": ("csv", mlci),
    }
    files = {}
    for n in args.sizes:
        d = root / str(n)
        if not (d / "data.parquet").exists():
            subprocess.run([py, str(HERE / "make_data.py"), str(d), str(n)], check=True)
        if not (d / "data.csv").exists():
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            pacsv.write_csv(pq.read_table(d / "data.parquet"), d / "data.csv")
        files["parquet", n] = str(d / "data.parquet")
        files["csv", n] = str(d / "data.csv")
    peak: dict[tuple[str, int], float] = {}
    exits: dict[tuple[str, int], int] = {}
    for _ in range(args.reps):  # interleaved, so load from other processes hits every run alike
        for n in args.sizes:
            for name, (fmt, cmd) in runs.items():
                _, mib, code, _ = measure([files[fmt, n] if a == "{data}" else a for a in cmd], env)
                peak[name, n] = max(peak.get((name, n), 0.0), mib)
                exits[name, n] = code
    small, big = args.sizes
    print(f"sizes: {small} and {big} rows, reps: {args.reps} (highest peak shown), cpus: {os.cpu_count()}, "
          f"load average at end: {os.getloadavg()[0]:.1f}\n")
    print(f"| run | peak RSS MiB at {small:,} rows | at {big:,} rows | {big // small}x rows: memory ratio | exit |")
    print("|---|---|---|---|---|")
    for name in runs:
        a, b = peak[name, small], peak[name, big]
        print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f}x | {exits[name, small]}, {exits[name, big]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
