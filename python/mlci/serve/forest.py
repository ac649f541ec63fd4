"""Tree ensembles compiled to flat numpy arrays, for fast small-batch prediction.

scikit-learn's forests predict tree by tree (one Python call, input validation and a joblib
dispatch per tree): a single row through a 100-tree forest costs milliseconds. Here all trees'
nodes are concatenated into a few arrays and a batch walks every tree at once, one numpy step
per tree level, so a single row costs tens of microseconds.

Semantics match scikit-learn: inputs are rounded to float32 before comparing with the
(float64) thresholds, ``x <= threshold`` goes left, a classifier averages the trees'
normalized leaf values. The predictor checks parity against scikit-learn on generated inputs
before it uses a compiled forest, and rows with missing values take scikit-learn's path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHUNK_ROWS = 4096
SUPPORTED = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
             "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")


class CompiledForest:
    def __init__(self, estimator: Any):
        trees = list(getattr(estimator, "estimators_", None) or [estimator])
        self.is_classifier = hasattr(estimator, "classes_")
        self.classes = np.asarray(estimator.classes_) if self.is_classifier else None
        self.n_features = int(estimator.n_features_in_)
        feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
        offset = 0
        depth = 0
        for t in trees:
            tree = t.tree_
            n = tree.node_count
            left = tree.children_left.astype(np.int64)
            right = tree.children_right.astype(np.int64)
            leaf = left == -1
            idx = np.arange(n, dtype=np.int64)
            # a leaf points to itself and always "goes left", so extra steps keep it in place
            lefts.append(np.where(leaf, idx, left) + offset)
            rights.append(np.where(leaf, idx, right) + offset)
            feats.append(np.where(leaf, 0, tree.feature).astype(np.int64))
            thrs.append(np.where(leaf, np.inf, tree.threshold))
            value = tree.value[:, 0, :].astype(np.float64)
            if self.is_classifier:
                total = value.sum(axis=1, keepdims=True)
                total[total == 0] = 1.0
                value = value / total
            values.append(value)
            roots.append(offset)
            offset += n
            depth = max(depth, int(tree.max_depth))
        self.feature = np.concatenate(feats)
        self.threshold = np.concatenate(thrs)
        self.left = np.concatenate(lefts)
        self.right = np.concatenate(rights)
        self.value = np.concatenate(values)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.depth = depth
        self.n_trees = len(trees)

    @staticmethod
    def supports(estimator: Any) -> bool:
        if type(estimator).__name__ not in SUPPORTED or not type(estimator).__module__.startswith("sklearn."):
            return False
        n_outputs = getattr(estimator, "n_outputs_", 1)
        return n_outputs == 1 and hasattr(estimator, "n_features_in_")

    def _leaf_values(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        n = X.shape[0]
        flat = X.ravel()
        # node[t, r]: where row r is in tree t; flat index of (r, feature) = r * width + feature
        offsets = (np.arange(n) * X.shape[1])[None, :]
        node = np.repeat(self.roots[:, None], n, axis=1)
        feature, threshold, left, right = self.feature, self.threshold, self.left, self.right
        for _ in range(self.depth):
            go_left = flat[offsets + feature[node]] <= threshold[node]
            node = np.where(go_left, left[node], right[node])
        return self.value[node]  # (trees, rows, outputs)

    def _mean(self, X: np.ndarray) -> np.ndarray:
        # summed over the leading axis: tree by tree in order, as scikit-learn accumulates;
        # large batches in chunks, so the (trees x rows) work arrays stay small
        if X.shape[0] <= CHUNK_ROWS:
            return self._leaf_values(X).sum(axis=0) / self.n_trees
        return np.concatenate([self._leaf_values(X[i:i + CHUNK_ROWS]).sum(axis=0)
                               for i in range(0, X.shape[0], CHUNK_ROWS)]) / self.n_trees

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._mean(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.is_classifier:
            return self.classes.take(np.argmax(self._mean(X), axis=1))
        return self._mean(X)[:, 0]


def threshold_probes(estimator: Any, n: int, seed: int = 0) -> np.ndarray:
    """Inputs that exercise both sides of many splits: each feature drawn near its thresholds."""
    rng = np.random.default_rng(seed)
    trees = list(getattr(estimator, "estimators_", None) or [estimator])
    n_features = int(estimator.n_features_in_)
    per_feature: list[list[float]] = [[] for _ in range(n_features)]
    for t in trees:
        tree = t.tree_
        inner = tree.children_left != -1
        for f, thr in zip(tree.feature[inner], tree.threshold[inner]):
            per_feature[int(f)].append(float(thr))
    X = np.zeros((n, n_features))
    for f, thrs in enumerate(per_feature):
        if not thrs:
            X[:, f] = rng.normal(size=n)
            continue
        base = rng.choice(np.asarray(thrs), size=n)
        jitter = rng.choice([-1.0, 0.0, 1.0], size=n) * np.maximum(np.abs(base), 1.0) * 1e-3
        X[:, f] = base + jitter
    return X
