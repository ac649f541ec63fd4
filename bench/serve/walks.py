"""The three forest walks of mlci.serve.forest side by side, by batch size, on distinct rows.

    PYTHONPATH=python python3 bench/serve/walks.py

For forests of 10, 100 and 300 trees of depth 8 (breast-cancer features) and 50 deep trees
(regression on 8 generated features, depth near 40): CPU microseconds per batch of the walk
`leaves` chooses, and of each walk on its own (the joined tree, the numpy level walk, Tree.apply
tree by tree), best of 3 passes over batches of distinct rows (rows drawn at random, every value
scaled by a normal factor around 1, sd 5%): no row repeats, as in real traffic, so the CPU's
branch predictor cannot learn the trees. These figures set the batch-size rule in forest.py.
"""

import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from mlci.serve.forest import CompiledForest

rng = np.random.default_rng(0)
cancer = load_breast_cancer()
X = rng.normal(size=(20000, 8))
y = np.sin(X[:, 0] * 3) + X[:, 1] ** 2 + rng.normal(scale=0.3, size=20000)


def distinct(data: np.ndarray, n: int) -> np.ndarray:
    return (data[rng.integers(0, len(data), n)] * rng.normal(1, 0.05, (n, data.shape[1]))).astype(np.float32)


def cost(walk, n: int, rows: np.ndarray) -> float:
    batches = [rows[i:i + n] for i in range(0, min(len(rows), max(20, 60000 // n) * n), n)]
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for batch in batches:
            walk(batch)
        best = min(best, time.process_time() - t0)
    return best / len(batches) * 1e6


cases = [(f"{t} trees, depth 8", RandomForestClassifier(n_estimators=t, max_depth=8, random_state=42)
          .fit(cancer.data[:455], cancer.target[:455]), distinct(cancer.data, 300000)) for t in (10, 100, 300)]
cases.append(("50 trees, unlimited depth", RandomForestRegressor(n_estimators=50, min_samples_leaf=3, random_state=0)
              .fit(X, y), distinct(X, 300000)))
print("| forest | rows | chosen | joined tree | level walk | tree by tree |")
print("|---|---:|---:|---:|---:|---:|")
for label, estimator, rows in cases:
    forest = CompiledForest(estimator)
    for n in (1, 16, 48, 100, 200, 400):
        walks = (forest.leaves, forest.leaves_joined, forest.leaves_levels, forest.leaves_treewise)
        print(f"| {label} (depth {forest.depth}) | {n} | " + " | ".join(f"{cost(w, n, rows):.0f}" for w in walks) + " |")
