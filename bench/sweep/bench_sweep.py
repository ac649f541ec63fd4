"""mlci sweep vs scikit-learn's GridSearchCV on the same grid, data and hold-out split.

  python3 bench/sweep/bench_sweep.py [--jobs 2]

Both train a RandomForest on examples/breast-cancer (train.csv, scored on test.csv) for every
combination of the grid below, with the same number of processes, each started from the shell
(mlci's CLI; a Python script running GridSearchCV), so both pay their interpreter start and imports. GridSearchCV is what a user
would otherwise reach for; it keeps nothing between runs. mlci also saves, evaluates and
fingerprints every candidate, and a second sweep with unchanged inputs retrains nothing.
Prints a Markdown table (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
    args = ap.parse_args()
    subprocess.run([sys.executable, str(REPO / "examples" / "make_data.py"), "breast-cancer"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "bc"
        shutil.copytree(REPO / "examples" / "breast-cancer", project, ignore=shutil.ignore_patterns(".mlci"))
        (project / "grid.yaml").write_text(
            "\n".join(f"model.params.{k}: {json.dumps(v)}" for k, v in GRID.items()) + "\n")
        first, sweep = mlci_sweep(project, args.jobs)
        second, again = mlci_sweep(project, args.jobs)
        gs1, gs_best, gs_score = grid_search(project, args.jobs)
        gs2, _, _ = grid_search(project, args.jobs)
    best = sweep["best"]
    n = len(sweep["candidates"])
    print(f"| tool | {n} candidates, first run | second run, inputs unchanged | best (roc_auc on test.csv) |")
    print("|---|---|---|---|")
    print(f"| mlci sweep --jobs {args.jobs} | {first:.1f} s | {second:.1f} s "
          f"({sum(c.get('trained') == 'up to date' for c in again['candidates'])}/{n} up to date) | "
          f"{best['label']}: {best['metrics']['roc_auc']:.4f} |")
    print(f"| GridSearchCV n_jobs={args.jobs} | {gs1:.1f} s | {gs2:.1f} s | "
          f"{' '.join(f'{k}={v}' for k, v in gs_best.items())}: {gs_score:.4f} |")


if __name__ == "__main__":
    main()
