"""Side-by-side benchmark: mlci validate vs pandera vs a bare pyarrow pass (ten rules), and
mlci drift vs Evidently's DataDriftPreset. Every tool runs as its own process, end to end
(interpreter start, imports, reading the Parquet file); wall time and peak RSS via
/usr/bin/time. Prints a Markdown table.

    python bench/validate/run.py [--rows 2000000] [--reps 3] [--evidently-python PY] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(seconds, peak MiB, exit code, last output line) of one run."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M", *cmd], env=env,
                           capture_output=True, text=True)
        secs, kb = tf.read().split()[-2:]
    tail = (p.stdout.strip().splitlines() or p.stderr.strip().splitlines() or [""])[-1]
    return float(secs), int(kb) / 1024, p.returncode, tail


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data", default=None, help="directory for the generated data (default: a temp dir)")
    ap.add_argument("--evidently-python", default=sys.executable,
                    help="python that has evidently (evidently 0.7 needs pandas < 3)")
    ap.add_argument("--evidently-reps", type=int, default=1, help="0: skip Evidently")
    args = ap.parse_args()

    data = Path(args.data or tempfile.mkdtemp(prefix="mlci-bench-"))
    if not (data / "data.parquet").exists():
        subprocess.run([sys.executable, str(HERE / "make_data.py"), str(data), str(args.rows)], check=True)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    out = data / "out"
    py = sys.executable
    d, s = str(data / "data.parquet"), str(data / "shifted.parquet")
    stats = data / "reference_stats.json"
    subprocess.run([py, "-m", "mlci", "schema", "stats", "--data", d, "-o", str(stats), "-q"], env=env, check=True)
    rules = {
        "bare pyarrow read + compute": [py, str(HERE / "arrow_check.py"), d],
        "mlci validate": [py, "-m", "mlci", "validate", "--data", d, "--schema", str(HERE / "schema.yaml"),
                          "--no-drift", "--out", str(out), "-q"],
        "mlci validate, one thread (MLCI_THREADS=1)": ["env", "MLCI_THREADS=1", py, "-m", "mlci", "validate",
                                                       "--data", d, "--schema", str(HERE / "schema.yaml"),
                                                       "--no-drift", "--out", str(out), "-q"],
        "mlci validate --chunk-rows 250000": [py, "-m", "mlci", "validate", "--data", d, "--schema",
                                              str(HERE / "schema.yaml"), "--no-drift", "--out", str(out),
                                              "--chunk-rows", "250000", "-q"],
        "pandera (pandas backend)": [py, str(HERE / "pandera_check.py"), d],
    }
    drift = {
        "mlci validate --reference (raw reference data)": [py, "-m", "mlci", "validate", "--data", s,
                                                           "--reference", d, "--out", str(out), "-q"],
        "mlci validate --reference-stats (stored statistics)": [py, "-m", "mlci", "validate", "--data", s,
                                                                "--reference-stats", str(stats), "--out",
                                                                str(out), "-q"],
    }
    ev_name = "Evidently DataDriftPreset"
    results: dict[str, list[tuple[float, float, int, str]]] = {k: [] for k in [*rules, *drift, ev_name]}
    for rep in range(args.reps):  # interleaved, so load from other processes hits every tool alike
        for name, cmd in [*rules.items(), *drift.items()]:
            results[name].append(measure(cmd, env))
        if rep == 0:  # Evidently between the first and the other repetitions
            results[ev_name] = [measure([args.evidently_python, str(HERE / "evidently_drift.py"), d, s], env)
                                for _ in range(args.evidently_reps)]

    def med(name: str) -> float:
        return statistics.median(r[0] for r in results[name])

    print(f"rows: {args.rows}, reps: {args.reps} (median), cpus: {os.cpu_count()}, "
          f"load average at end: {os.getloadavg()[0]:.1f}\n")
    print("| run | median s | min s | peak RSS MiB | exit | ratio |")
    print("|---|---|---|---|---|---|")
    base = med("bare pyarrow read + compute")
    for name in rules:
        r = results[name]
        print(f"| {name} | {med(name):.2f} | {min(x[0] for x in r):.2f} | {max(x[1] for x in r):.0f} | "
              f"{r[0][2]} | {med(name) / base:.2f}x bare Arrow |")
    ev = med(ev_name) if results[ev_name] else None
    for name in [*drift, ev_name]:
        r = results[name]
        if not r:
            print(f"| {name} | not run | | | | |")
            continue
        ratio = f"Evidently / this: {ev / med(name):.1f}x" if ev else ""
        print(f"| {name} | {med(name):.2f} | {min(x[0] for x in r):.2f} | {max(x[1] for x in r):.0f} | "
              f"{r[0][2]} | {ratio} |")
    print()
    for name, r in results.items():
        if r:
            print(f"- {name}: exit {r[-1][2]}, last line: {r[-1][3][:160]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
