"""mlci sweep vs scikit-learn's GridSearchCV on the same grid, data and hold-out split.

  python3 bench/sweep/bench_sweep.py [--jobs 2] [--repeat 3]

Both train a RandomForest on examples/breast-cancer (train.csv, scored on test.csv) for every
combination of the grid below, with the same number of processes, each started from the shell
(mlci's CLI; a Python script running GridSearchCV), so both pay their interpreter start and imports. GridSearchCV is what a user
would otherwise reach for; it keeps nothing between runs. mlci also saves, evaluates and
fingerprints every candidate, and a second sweep with unchanged inputs retrains nothing; forests
that differ only in n_estimators share one fit (the smaller take the largest's first trees).
Prints a Markdown table (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GRID = {"n_estimators": [50, 100], "max_depth": [4, 8], "min_samples_leaf": [1, 5]}


def mlci_sweep(project: Path, jobs: int) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlci", "sweep", "-c", str(project / "mlci.yaml"),
                        "--grid", str(project / "grid.yaml"), "--jobs", str(jobs), "--json"],
                       env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"mlci sweep failed ({r.returncode}): {r.stderr[-2000:]}")
    return elapsed, json.loads(r.stdout)


GRID_SEARCH = """
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit

project, jobs, grid = Path(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
train = pd.read_csv(project / "data" / "train.csv")
test = pd.read_csv(project / "data" / "test.csv")
both = pd.concat([train, test], ignore_index=True)
X = both.drop(columns=["diagnosis", "patient_id"])
y = both["diagnosis"]
fold = np.r_[np.full(len(train), -1), np.zeros(len(test))]  # train on train, score on test
search = GridSearchCV(RandomForestClassifier(random_state=42), grid, scoring="roc_auc",
                      cv=PredefinedSplit(fold), n_jobs=jobs, refit=False)
search.fit(X, y)
print(json.dumps({"best_params": search.best_params_, "best_score": float(search.best_score_)}))
"""


def grid_search(project: Path, jobs: int) -> tuple[float, dict, float]:
    """GridSearchCV as a user runs it: a script started from the shell, as mlci is."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", GRID_SEARCH, str(project), str(jobs), json.dumps(GRID)],
                       capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    out = json.loads(r.stdout)
    return elapsed, out["best_params"], out["best_score"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="first runs of each tool (mlci in fresh copies)")
    args = ap.parse_args()
    load = f"{os.getloadavg()[0]:.2f}"
    subprocess.run([sys.executable, str(REPO / "examples" / "make_data.py"), "breast-cancer"], check=True)
    firsts: list[float] = []
    gs_firsts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.repeat):  # alternating which tool goes first (the machine's load drifts)
            project = Path(tmp) / f"bc-{n}"
            shutil.copytree(REPO / "examples" / "breast-cancer", project, ignore=shutil.ignore_patterns(".mlci"))
            (project / "grid.yaml").write_text(
                "\n".join(f"model.params.{k}: {json.dumps(v)}" for k, v in GRID.items()) + "\n")
            for tool in (("mlci", "gs") if n % 2 == 0 else ("gs", "mlci")):
                if tool == "mlci":
                    elapsed, sweep = mlci_sweep(project, args.jobs)
                    firsts.append(elapsed)
                else:
                    elapsed, gs_best, gs_score = grid_search(project, args.jobs)
                    gs_firsts.append(elapsed)
            print(f"# first run {n + 1}: mlci sweep {firsts[-1]:.2f} s, GridSearchCV {gs_firsts[-1]:.2f} s "
                  f"({gs_firsts[-1] / firsts[-1]:.2f}x)", file=sys.stderr)
        second, again = mlci_sweep(project, args.jobs)
        gs2, _, _ = grid_search(project, args.jobs)
    first, gs1 = statistics.median(firsts), statistics.median(gs_firsts)
    best = sweep["best"]
    n = len(sweep["candidates"])
    derived = [c["label"] for c in sweep["candidates"] if c.get("trees_from")]
    print(f"# {len(derived)} of {n} candidates took the first trees of a sibling's fit: {', '.join(derived)}",
          file=sys.stderr)
    print(f"# load average before / after: {load} / {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"| tool | {n} candidates, first run (median of {args.repeat}) | second run, inputs unchanged | "
          "best (roc_auc on test.csv) |")
    print("|---|---|---|---|")
    print(f"| mlci sweep --jobs {args.jobs} | {first:.2f} s | {second:.2f} s "
          f"({sum(c.get('trained') == 'up to date' for c in again['candidates'])}/{n} up to date) | "
          f"{best['label']}: {best['metrics']['roc_auc']:.4f} |")
    print(f"| GridSearchCV n_jobs={args.jobs} | {gs1:.2f} s | {gs2:.2f} s | "
          f"{' '.join(f'{k}={v}' for k, v in gs_best.items())}: {gs_score:.4f} |")
    paired = statistics.median(g / m for g, m in zip(gs_firsts, firsts))
    print(f"\nRatios (GridSearchCV / mlci): first run {gs1 / first:.2f}x (median of the rounds' ratios "
          f"{paired:.2f}x; fastest of each: {min(gs_firsts):.2f} s / "
          f"{min(firsts):.2f} s = {min(gs_firsts) / min(firsts):.2f}x), unchanged rerun {gs2 / second:.2f}x")


if __name__ == "__main__":
    main()
