"""Tree ensembles joined into one scikit-learn tree, for fast small-batch prediction.

scikit-learn's forests predict tree by tree (one Python call, input validation and a joblib
dispatch per tree): a single row through a 100-tree forest costs milliseconds, and even its
compiled per-tree traversal (Tree.apply) costs about 1.3 us of call overhead per tree. Here
all trees become subtrees of one joined tree, so that one call of scikit-learn's own compiled
traversal finds every tree's leaf for every row of a small batch (up to JOINED_ROWS; larger
ones go tree by tree, where the call overhead no longer matters):

  * the joined tree's top levels route on a column 0 holding the tree's number (a balanced
    binary split on k <= m - 0.5), and each tree's nodes follow, their children offset and
    their features moved to other columns;
  * each (tree, row) pair is one row of a strided view over a small buffer (tree number, then
    the rows' values transposed): row (k, r) starts k*n + r floats in and its columns are n
    floats apart, so column 0 reads k and column T - k + f reads x[r, f]. Nothing is copied
    per tree: the buffer holds the trees' numbers and the input once.

Semantics are scikit-learn's because the traversal is scikit-learn's: inputs rounded to
float32, ``x <= threshold`` goes left, missing values as each tree learned them. A classifier
averages the trees' normalized leaf values, summed tree by tree in order, as scikit-learn
does. The predictor checks before using a compiled forest that the joined tree reaches the
same leaves as each tree's own Tree.apply (batch sizes from one row up) and that the answers
equal scikit-learn's on generated inputs near every split threshold. Where the joined tree
cannot be built (scikit-learn's internal tree format changed), the trees are walked one by
one with Tree.apply, which is always exact.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
CHUNK_ROWS = 4096
# the joined tree up to this many rows; beyond, tree by tree is faster (its routing levels and
# larger buffer cost more than ~1.3 us per tree call: 10-300 trees of depth 8 cross at 150-350)
JOINED_ROWS = 128
SUPPORTED = ("DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor",
             "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")
_F32 = np.dtype(np.float32).itemsize


class CompiledForest:
    def __init__(self, estimator: Any):
        trees = list(getattr(estimator, "estimators_", None) or [estimator])
        self.is_classifier = hasattr(estimator, "classes_")
        self.classes = np.asarray(estimator.classes_) if self.is_classifier else None
        self.n_features = int(estimator.n_features_in_)
        self.trees = [t.tree_ for t in trees]
        self.n_trees = len(trees)
        routes = _routes(self.n_trees)
        values = [np.zeros((len(routes), trees[0].tree_.value.shape[2]))]
        roots = []
        offset = len(routes)
        for tree in self.trees:
            value = tree.value[:, 0, :].astype(np.float64)
            if self.is_classifier:
                total = value.sum(axis=1, keepdims=True)
                total[total == 0] = 1.0
                value = value / total
            values.append(value)
            roots.append(offset)
            offset += tree.node_count
        self.value = np.concatenate(values)  # by node of the joined tree; routing nodes hold 0
        self.roots = np.asarray(roots, dtype=np.intp)
        self._offsets = self.roots[:, None]
        self.width = self.n_trees + self.n_features  # the joined tree's columns
        try:
            self.joined = _join(self.trees, routes, self.roots, self.n_features)
        except Exception as exc:  # scikit-learn's tree state is internal: any change means tree by tree
            log.info("serving the forest tree by tree: could not join its trees (%s)", exc)
            self.joined = None

    @staticmethod
    def supports(estimator: Any) -> bool:
        if type(estimator).__name__ not in SUPPORTED or not type(estimator).__module__.startswith("sklearn."):
            return False
        n_outputs = getattr(estimator, "n_outputs_", 1)
        return n_outputs == 1 and hasattr(estimator, "n_features_in_")

    # --- which leaf each row reaches in each tree: (trees, rows) node indices of the joined tree -
    def leaves(self, X: np.ndarray) -> np.ndarray:
        if self.joined is None or X.shape[0] > JOINED_ROWS:
            return self.leaves_treewise(X)
        return self.leaves_joined(X)

    def leaves_joined(self, X: np.ndarray) -> np.ndarray:
        n, T = X.shape[0], self.n_trees
        # trees' numbers (T x n), then the rows transposed (F x n); the rest of the buffer is
        # only there because the view's extent reaches it: nothing reads it
        buf = np.empty((T + self.width - 1) * n, dtype=np.float32)
        buf[:T * n].reshape(T, n)[:] = np.arange(T, dtype=np.float32)[:, None]
        buf[T * n:self.width * n].reshape(self.n_features, n)[:] = X.T  # float32, as scikit-learn rounds
        view = np.ndarray((T * n, self.width), np.float32, buf, 0, (_F32, _F32 * n))
        return self.joined.apply(view).reshape(T, n)

    def leaves_treewise(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's own Tree.apply, tree by tree: the reference for the joined tree."""
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
        """The joined tree reaches each tree's own leaves on ``X``: whole, in batches of
        several sizes, and one row at a time (the view's strides depend on the batch size)."""
        if self.joined is None:
            return True
        want = self.leaves_treewise(X)
        if not np.array_equal(self.leaves_joined(X), want):
            return False
        for size in (1, 2, 7, JOINED_ROWS):
            for i in range(0, min(len(X), 4 * size), size):
                if not np.array_equal(self.leaves_joined(X[i:i + size]), want[:, i:i + size]):
                    return False
        return True


def _routes(n_trees: int) -> list[tuple[int, int, int]]:
    """The joined tree's routing nodes in preorder (the root first), as (split, left, right):
    node i sends tree number k left when k < split. A child is a routing node's index, or
    ~t for tree t's root. One tree needs none: it is the root itself."""
    nodes: list[tuple[int, int, int]] = []

    def build(lo: int, hi: int) -> int:
        if hi - lo == 1:
            return ~lo
        i = len(nodes)
        nodes.append((0, 0, 0))
        mid = (lo + hi) // 2
        left = build(lo, mid)
        nodes[i] = (mid, left, build(mid, hi))
        return i

    build(0, n_trees)
    return nodes


def _join(trees: list[Any], routes: list[tuple[int, int, int]], roots: np.ndarray, n_features: int) -> Any:
    """One scikit-learn Tree holding the routing nodes, then every tree's nodes (see above)."""
    states = [tree.__getstate__() for tree in trees]
    n_trees = len(trees)
    count = int(roots[-1]) + trees[-1].node_count
    nodes = np.zeros(count, dtype=states[0]["nodes"].dtype)
    child = [int(roots[~c]) if c < 0 else c for _, *cs in routes for c in cs]
    head = nodes[:len(routes)]
    head["left_child"], head["right_child"] = child[0::2], child[1::2]
    head["feature"] = 0
    head["threshold"] = [split - 0.5 for split, _, _ in routes]
    head["n_node_samples"], head["weighted_n_node_samples"] = 1, 1.0
    for k, (state, root) in enumerate(zip(states, roots)):
        part = state["nodes"].copy()
        inner = part["left_child"] != -1
        part["left_child"][inner] += root
        part["right_child"][inner] += root
        part["feature"][inner] += n_trees - k  # tree k's feature f is column T - k + f
        nodes[root:root + len(part)] = part
    joined = type(trees[0])(n_trees + n_features, np.ones(1, dtype=np.intp), 1)
    joined.__setstate__({"max_depth": max(s["max_depth"] for s in states) + len(routes).bit_length(),
                         "node_count": count, "nodes": nodes, "values": np.zeros((count, 1, 1))})
    return joined


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
