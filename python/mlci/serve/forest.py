"""Tree ensembles compiled to flat numpy arrays, for fast small-batch prediction.

scikit-learn's forests predict tree by tree (one Python call, input validation and a joblib
dispatch per tree): a single row through a 100-tree forest costs milliseconds. Here all trees'
nodes are concatenated into a few arrays, and which leaf each row reaches in each tree is found
in one of three ways, by batch size (``leaves``):

  * one row: every node's next node at once (one comparison per node), then from the roots one
    step per level (pointer doubling, next of next, first where the trees are deep): under ten
    numpy calls;
  * small batches: all trees and rows walk down together, one numpy step per tree level;
  * larger batches (rows x depth from TREEWISE_WORK): scikit-learn's own compiled traversal,
    Tree.apply, tree by tree (about 1.3 us of call overhead per tree, then nearly free per row).

Semantics match scikit-learn: inputs are rounded to float32, ``x <= threshold`` goes left (the
float64 thresholds are stored as the largest float32 not above them, which gives the same
outcome for every float32 x), a classifier averages the trees' normalized leaf values, summed
tree by tree in order. The predictor checks before using a compiled forest that the three
traversals reach the same leaves and that the answers equal scikit-learn's on generated inputs
(near every split threshold); rows with missing values take scikit-learn's path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHUNK_ROWS = 4096
# Tree.apply per tree beats the level-by-level walk from about this many rows x levels (its
# per-tree call overhead against numpy's ~8 calls per level over trees x rows)
TREEWISE_WORK = 512
SUPPORTED = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
             "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")


class CompiledForest:
    def __init__(self, estimator: Any):
        trees = list(getattr(estimator, "estimators_", None) or [estimator])
        self.is_classifier = hasattr(estimator, "classes_")
        self.classes = np.asarray(estimator.classes_) if self.is_classifier else None
        self.n_features = int(estimator.n_features_in_)
        self.trees = [t.tree_ for t in trees]
        feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
        offset = 0
        depth = 0
        for tree in self.trees:
            n = tree.node_count
            left = tree.children_left.astype(np.intp)
            right = tree.children_right.astype(np.intp)
            leaf = left == -1
            idx = np.arange(n, dtype=np.intp)
            # a leaf points to itself and always "goes left", so extra steps keep it in place
            lefts.append(np.where(leaf, idx, left) + offset)
            rights.append(np.where(leaf, idx, right) + offset)
            feats.append(np.where(leaf, 0, tree.feature).astype(np.intp))
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
        threshold = np.concatenate(thrs)
        # x (a float32) <= t (a float64) exactly when x <= the largest float32 not above t:
        # the comparisons run on float32 thresholds rounded down, with the same outcome
        t32 = threshold.astype(np.float32)
        above = t32.astype(np.float64) > threshold
        t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
        self.threshold = t32
        self.left, self.right = np.concatenate(lefts), np.concatenate(rights)
        # node i's children at 2i (x <= threshold) and 2i + 1 (x > threshold)
        self.child = np.empty(2 * offset, dtype=np.intp)
        self.child[0::2] = self.left
        self.child[1::2] = self.right
        self.value = np.concatenate(values)
        self.roots = np.asarray(roots, dtype=np.intp)
        self._offsets = self.roots[:, None]
        self.depth = depth
        self.n_trees = len(trees)
        self.treewise_rows = max(2, -(-TREEWISE_WORK // max(depth, 1)))
        # one row: a doubling (a take over all nodes) halves the steps taken from the roots (a
        # take over one node per tree); a numpy call costs about as much as 450 elements
        self.doublings = min(range(max(1, depth.bit_length())),
                             key=lambda j: j * (offset + 450) + -(-depth // 2 ** j) * (self.n_trees + 450))

    @staticmethod
    def supports(estimator: Any) -> bool:
        if type(estimator).__name__ not in SUPPORTED or not type(estimator).__module__.startswith("sklearn."):
            return False
        n_outputs = getattr(estimator, "n_outputs_", 1)
        return n_outputs == 1 and hasattr(estimator, "n_features_in_")

    # --- which leaf each row reaches in each tree: (trees, rows) node indices -------------------
    # Three ways, by batch size; each gives exactly the same leaves (the predictor checks all
    # three against each other and against scikit-learn before it uses the compiled forest).
    def leaves(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if n == 1:
            return self.leaves_one(X)
        if n < self.treewise_rows:
            return self.leaves_levels(X)
        return self.leaves_treewise(X)

    def leaves_one(self, X: np.ndarray) -> np.ndarray:
        """One row: every node's next node at once (a leaf's is itself), then from the roots
        one step per level; on deep trees first pointer doubling (next of next), each halving
        the steps: a few numpy calls instead of a dozen per level."""
        x = np.asarray(X, dtype=np.float32).reshape(-1)
        nxt = np.where(x.take(self.feature) > self.threshold, self.right, self.left)
        steps = self.depth
        for _ in range(self.doublings):
            nxt = nxt.take(nxt)
            steps = -(-steps // 2)
        node = self.roots
        for _ in range(steps):
            node = nxt.take(node)
        return node[:, None]

    def leaves_levels(self, X: np.ndarray) -> np.ndarray:
        """Small batches: all trees and rows walk down together, one numpy step per level."""
        X = np.asarray(X, dtype=np.float32)
        n = X.shape[0]
        flat = X.ravel()
        offsets = (np.arange(n, dtype=np.intp) * X.shape[1])[None, :]
        node = np.repeat(self.roots[:, None], n, axis=1)
        feature, threshold, child = self.feature, self.threshold, self.child
        for _ in range(self.depth):
            node = child.take(2 * node + (flat.take(offsets + feature.take(node)) > threshold.take(node)))
        return node

    def leaves_treewise(self, X: np.ndarray) -> np.ndarray:
        """Larger batches: scikit-learn's own compiled traversal (Tree.apply), tree by tree."""
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        leaves = np.concatenate([tree.apply(X32) for tree in self.trees])  # not np.stack: 100 small arrays
        return leaves.reshape(self.n_trees, X32.shape[0]) + self._offsets

    def _mean(self, X: np.ndarray) -> np.ndarray:
        # summed over the leading axis: tree by tree in order, as scikit-learn accumulates;
        # large batches in chunks, so the (trees x rows) work arrays stay small
        if X.shape[0] <= CHUNK_ROWS:
            return self.value.take(self.leaves(X), axis=0).sum(axis=0) / self.n_trees
        return np.concatenate([self.value.take(self.leaves(X[i:i + CHUNK_ROWS]), axis=0).sum(axis=0)
                               for i in range(0, X.shape[0], CHUNK_ROWS)]) / self.n_trees

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._mean(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.is_classifier:
            return self.classes.take(self._mean(X).argmax(axis=1))
        return self._mean(X)[:, 0]

    def predict_with_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A classifier's predict and predict_proba from one pass over the trees."""
        proba = self._mean(X)
        return self.classes.take(proba.argmax(axis=1)), proba

    def same_leaves(self, X: np.ndarray) -> bool:
        """The three traversals agree on every row of ``X`` (one row at a time for the first)."""
        levels = self.leaves_levels(X)
        if not np.array_equal(levels, self.leaves_treewise(X)):
            return False
        return all(np.array_equal(self.leaves_one(X[i:i + 1]), levels[:, i:i + 1]) for i in range(len(X)))


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
