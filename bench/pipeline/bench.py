"""mlci run vs DVC (dvc repro) on the same training script and data, and CLI start-up time
vs MLflow's and DVC's CLIs.

  python bench/pipeline/bench.py [--rows 100000] [--repeat 5] [--first 3]

Needs `bench/tools.sh dvc mlflow` (a separate venv); without them only mlci is measured.
What is measured:
  - start-up: `--version` and `--help` of each CLI (median of --repeat runs)
  - first run: validate+train+evaluate+publish with mlci vs `dvc repro` of a plain sklearn
    script doing the same training and scoring (median of --first runs in fresh projects,
    the two tools alternating)
  - unchanged rerun: both should skip all work; how long does finding that out take?
  - the floor of a first run, in the same rounds: a bare script that starts Python, imports
    what it needs, reads the same CSV, splits it as DVC's script does and fits the same forest
    (no saving, no scoring); each tool's first run is printed as a multiple of it
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "bench" / ".venv-tools" / "bin"

TRAIN_SCRIPT = '''
import json, sys
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
import skops.io as sio
df = pd.read_csv("data/train.csv")
y = df.pop("diagnosis"); X = df.drop(columns=["patient_id"])
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
m = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42, n_jobs=1).fit(Xtr, ytr)
sio.dump(m, "model.skops")
p = m.predict_proba(Xte)[:, 1]
json.dump({"accuracy": accuracy_score(yte, p > 0.5), "f1": f1_score(yte, p > 0.5),
           "roc_auc": roc_auc_score(yte, p)}, open("metrics.json", "w"))
'''

FLOOR_SCRIPT = '''
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
df = pd.read_csv("data/train.csv")
y = df.pop("diagnosis"); X = df.drop(columns=["patient_id"])
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42, n_jobs=1).fit(Xtr, ytr)
'''

DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps: [train.py, data/train.csv]
    outs: [model.skops]
    metrics: [{metrics.json: {cache: false}}]
"""

MLCI_YAML = """name: bench
task: classification
data: {train: data/train.csv, target: diagnosis, features: {exclude: [patient_id]}}
split: {test_size: 0.2, seed: 42}
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params: {n_estimators: 100, max_depth: 8, random_state: 42, n_jobs: 1}
evaluate: {metrics: [accuracy, f1, roc_auc], gates: [{metric: roc_auc, threshold: 0.9}]}
"""


CPU_S: dict[str, list[float]] = {}  # CPU seconds (user + system) of each first run, by tool


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, cpu: str | None = None) -> float:
    """Wall seconds of ``cmd``; with ``cpu``, also its CPU seconds (with the processes it waited
    for) into CPU_S[cpu]: what it costs on a machine with no idle core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    if cpu:
        CPU_S.setdefault(cpu, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed


def median_of(n: int, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    return statistics.median(timed(cmd, cwd, env) for _ in range(n))


def make_data(path: Path, rows: int) -> None:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    reps = -(-rows // len(frame))
    big = frame.loc[frame.index.repeat(reps)].head(rows).reset_index(drop=True)
    rng = np.random.default_rng(0)
    num = big.columns.drop("diagnosis")
    big[num] = big[num] * rng.normal(1.0, 0.02, size=(len(big), len(num)))
    big.insert(0, "patient_id", range(len(big)))
    path.parent.mkdir(parents=True, exist_ok=True)
    big.to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--first", type=int, default=3, help="first runs of each tool, in fresh projects")
    args = ap.parse_args()
    load = f"{os.getloadavg()[0]:.2f}"
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    mlci = [sys.executable, "-m", "mlci"]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="mlci-bench-"))
    print(f"# data: {args.rows} rows x 31 columns (breast cancer, jittered); workdir {work}", file=sys.stderr)

    def row(what: str, ours: float, theirs: float | None, tool: str) -> None:
        ratio = f"{theirs / ours:.2f}x" if theirs else "n/a"
        rows.append(f"| {what} | {ours:.3f} s | {f'{theirs:.3f} s' if theirs else 'not installed'} ({tool}) | {ratio} |")

    dvc = TOOLS / "dvc" if (TOOLS / "dvc").exists() else None
    mlflow = TOOLS / "mlflow" if (TOOLS / "mlflow").exists() else None
    ver = median_of(args.repeat, [*mlci, "--version"], work, env)
    hlp = median_of(args.repeat, [*mlci, "--help"], work, env)
    row("CLI start-up: `--version`", ver, median_of(args.repeat, [str(mlflow), "--version"], work) if mlflow else None, "mlflow --version")
    row("CLI start-up: `--help`", hlp, median_of(args.repeat, [str(mlflow), "--help"], work) if mlflow else None, "mlflow --help")
    row("CLI start-up: `--version` vs DVC", ver, median_of(args.repeat, [str(dvc), "--version"], work) if dvc else None, "dvc --version")

    data = work / "data"
    make_data(data / "train.csv", args.rows)
    denv = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def mlci_project(n: int) -> Path:
        ours = work / f"mlci-{n}"
        shutil.copytree(data, ours / "data")
        (ours / "mlci.yaml").write_text(MLCI_YAML)
        return ours

    def dvc_project(n: int) -> Path:
        theirs = work / f"dvc-{n}"
        shutil.copytree(data, theirs / "data")
        (theirs / "train.py").write_text(TRAIN_SCRIPT)
        (theirs / "dvc.yaml").write_text(DVC_YAML)
        subprocess.run(["git", "init", "-q"], cwd=theirs, check=True)
        subprocess.run([str(dvc), "init", "-q"], cwd=theirs, check=True)
        return theirs

    # first runs in fresh projects, rotating which tool goes first (the machine's load drifts)
    firsts: list[float] = []
    d_firsts: list[float] = []
    floors: list[float] = []
    for n in range(args.first):
        ours, theirs = mlci_project(n), dvc_project(n) if dvc else None
        order = [("mlci", ours), ("dvc", theirs), ("floor", data.parent)]
        for tool, where in order[n % 3:] + order[:n % 3]:
            if tool == "mlci":
                firsts.append(timed([*mlci, "run"], where, env, cpu="mlci"))
            elif tool == "floor":
                floors.append(timed([sys.executable, "-c", FLOOR_SCRIPT], where, cpu="floor"))
            elif where is not None:
                d_firsts.append(timed([str(dvc), "repro"], where, denv, cpu="dvc"))
        print(f"# first run {n + 1}: mlci {firsts[-1]:.2f} s, floor {floors[-1]:.2f} s"
              + (f", dvc repro {d_firsts[-1]:.2f} s ({d_firsts[-1] / firsts[-1]:.2f}x)" if dvc else ""),
              file=sys.stderr)
    first = statistics.median(firsts)
    d_first = statistics.median(d_firsts) if d_firsts else None
    rerun = median_of(args.repeat, [*mlci, "run"], work / "mlci-0", env)
    d_rerun = median_of(args.repeat, [str(dvc), "repro"], work / "dvc-0", denv) if dvc else None
    row(f"first run (validate, train, evaluate, publish) vs `dvc repro` (train+score script), median of {args.first}",
        first, d_first, "dvc repro")
    row("unchanged rerun: everything up to date", rerun, d_rerun, "dvc repro")
    if d_firsts:
        ours_cpu, theirs_cpu = statistics.median(CPU_S["mlci"]), statistics.median(CPU_S["dvc"])
        print(f"# first run, CPU seconds (median): mlci {ours_cpu:.2f} s, dvc repro {theirs_cpu:.2f} s "
              f"({theirs_cpu / ours_cpu:.2f}x)", file=sys.stderr)
        paired = statistics.median(d / m for d, m in zip(d_firsts, firsts))
        print(f"# first run, median of the rounds' ratios: {paired:.2f}x", file=sys.stderr)
        print(f"# first run, fastest of each: mlci {min(firsts):.2f} s, dvc repro {min(d_firsts):.2f} s "
              f"({min(d_firsts) / min(firsts):.2f}x)", file=sys.stderr)
    floor = statistics.median(floors)
    print(f"# floor (start Python, import, read, split, fit; no save, no scoring): {floor:.2f} s "
          f"(median of {len(floors)}), CPU {statistics.median(CPU_S['floor']):.2f} s", file=sys.stderr)
    print(f"# first run / floor (medians): mlci {first / floor:.2f}x"
          + (f", dvc repro {d_first / floor:.2f}x" if d_first else ""), file=sys.stderr)
    print(f"# first run / floor, median of the rounds: mlci {statistics.median(m / f for m, f in zip(firsts, floors)):.2f}x"
          + (f", dvc repro {statistics.median(d / f for d, f in zip(d_firsts, floors)):.2f}x" if d_firsts else ""),
          file=sys.stderr)
    print(f"# load average before / after: {load} / {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print("| measurement | mlci | other tool | other / mlci |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
