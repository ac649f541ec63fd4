"""Tree ensembles compiled for fast small-batch prediction, exact to scikit-learn.

scikit-learn's forests predict tree by tree (one Python call, input validation and a joblib
dispatch per tree): a single row through a 100-tree forest costs milliseconds, and even its
compiled per-tree traversal (Tree.apply) costs about 1.3 us of call overhead per tree. Here the
leaf each row reaches in each tree is found in one of three ways, by batch size (``leaves``):

  * the joined tree (small batches, and deep trees): all trees become subtrees of one
    scikit-learn tree, so that one call of scikit-learn's own compiled traversal finds every
    tree's leaf for every row. Its top levels route on a column 0 holding the tree's number (a
    balanced binary split on k <= m - 0.5); each tree's nodes follow, their children offset and
    their features moved to other columns. Each (tree, row) pair is one row of a strided view
    over a small buffer (tree numbers, then the rows' values transposed): row (k, r) starts
    k*n + r floats in and its columns are n floats apart, so column 0 reads k and column
    T - k + f reads x[r, f]. Nothing is copied per tree.
  * the level walk (larger batches of shallow trees): all trees and rows walk down together,
    one numpy step per level, with no branches for the CPU to mispredict on distinct rows;
  * tree by tree (large batches): Tree.apply per tree, its call overhead small by then.

Semantics are scikit-learn's: inputs rounded to float32 (compared as float64 with the float64
thresholds in the level walk), ``x <= threshold`` goes left; the joined tree and Tree.apply are
scikit-learn's own traversal, missing values included (a batch with a missing value never
takes the level walk, where NaN would go right). A classifier averages the
trees' normalized leaf values, summed tree by tree in order, as scikit-learn does. The
predictor checks before using a compiled forest that the joined tree and the level walk reach
the same leaves as each tree's own Tree.apply (batch sizes from one row up) and that the
answers equal scikit-learn's on generated inputs near every split threshold. Where the joined
tree cannot be built (scikit-learn's internal tree format changed), the other two serve every
batch size, with the same answers.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
CHUNK_ROWS = 4096
# Which walk, by batch size, chosen on distinct rows, as real traffic sends them (the same rows
# again and again let the CPU's branch predictor learn the trees, which flatters the compiled
# walks; bench/serve/walks.py): the joined tree while trees x rows is under JOINED_PAIRS; then
# the numpy level walk, which has no branches to mispredict (even for deep trees, whose compiled
# walks also miss the caches); from TREEWISE_ROWS rows on, Tree.apply tree by tree for trees up
# to TREEWISE_MAX_DEPTH deep. No level walk for trees deeper than LEVELS_MAX_DEPTH (it takes that
# many steps) nor for forests of over LEVELS_MAX_NODES nodes: its arrays cost 32 bytes a node,
# beside the joined tree's 72, and are not built for such forests
JOINED_PAIRS = 2048
TREEWISE_ROWS = 256
TREEWISE_MAX_DEPTH = 12
LEVELS_MAX_DEPTH = 64
LEVELS_MAX_NODES = 1 << 21
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
        head = len(routes)
        self.depth = max(int(tree.max_depth) for tree in self.trees)
        values = [np.zeros((head, trees[0].tree_.value.shape[2]))]
        roots = []
        offset = head
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
        self.child = None
        if offset <= LEVELS_MAX_NODES:
            self.feature, self.threshold, self.child = _level_arrays(self.trees, head, self.roots)
        self._offsets = self.roots[:, None]
        self.width = self.n_trees + self.n_features  # the joined tree's columns
        try:
            self.joined = _join(self.trees, routes, self.roots, self.n_features)
        except Exception as exc:  # scikit-learn's tree state is internal: any change means tree by tree
            log.info("serving the forest by the level walk and tree by tree: could not join its trees (%s)", exc)
            self.joined = None

    @staticmethod
    def supports(estimator: Any) -> bool:
        if type(estimator).__name__ not in SUPPORTED or not type(estimator).__module__.startswith("sklearn."):
            return False
        n_outputs = getattr(estimator, "n_outputs_", 1)
        return n_outputs == 1 and hasattr(estimator, "n_features_in_")

    # --- which leaf each row reaches in each tree: (trees, rows) node indices of the joined tree -
    def leaves(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        if n >= TREEWISE_ROWS and (self.depth <= TREEWISE_MAX_DEPTH or self.depth > LEVELS_MAX_DEPTH):
            return self.leaves_treewise(X)
        compiled = (self.child is None or n * self.n_trees < JOINED_PAIRS or self.depth > LEVELS_MAX_DEPTH
                    or np.isnan(X).any())
        if compiled:  # missing values too: the level walk would send them right
            return self.leaves_treewise(X) if self.joined is None else self.leaves_joined(X)
        return self.leaves_levels(X)

    def leaves_joined(self, X: np.ndarray) -> np.ndarray:
        n, T = X.shape[0], self.n_trees
        # trees' numbers (T x n), then the rows transposed (F x n); the rest of the buffer is
        # only there because the view's extent reaches it: nothing reads it
        buf = np.empty((T + self.width - 1) * n, dtype=np.float32)
        buf[:T * n].reshape(T, n)[:] = np.arange(T, dtype=np.float32)[:, None]
        buf[T * n:self.width * n].reshape(self.n_features, n)[:] = X.T  # float32, as scikit-learn rounds
        view = np.ndarray((T * n, self.width), np.float32, buf, 0, (_F32, _F32 * n))
        return self.joined.apply(view).reshape(T, n)

    def leaves_levels(self, X: np.ndarray) -> np.ndarray:
        """All trees and rows walk down together, one numpy step per level: no branches for
        the CPU to mispredict. Inputs as scikit-learn sees them (float32, compared as float64
        with the float64 thresholds); not for missing values (NaN always goes right here)."""
        X = np.asarray(X, dtype=np.float32)
        n = X.shape[0]
        flat = np.asarray(X, dtype=np.float64).ravel()
        offsets = np.arange(0, n * X.shape[1], X.shape[1], dtype=np.intp)
        node = np.repeat(self._offsets, n, axis=1)
        feature, threshold, child = self.feature, self.threshold, self.child
        for _ in range(self.depth):
            node = child.take(2 * node + (flat.take(offsets + feature.take(node)) > threshold.take(node)))
        return node

    def leaves_treewise(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's own Tree.apply, tree by tree: large batches, and the reference the
        other two walks are checked against."""
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
        """The joined tree and the level walk reach each tree's own leaves on ``X``: whole,
        and the joined tree in batches of several sizes, one row at a time too (the view's
        strides depend on the batch size)."""
        want = self.leaves_treewise(X)
        if self.child is not None and not np.array_equal(self.leaves_levels(X), want):
            return False
        if self.joined is None:
            return True
        if not np.array_equal(self.leaves_joined(X), want):
            return False
        for size in (1, 2, 7, 64):
            for i in range(0, min(len(X), 4 * size), size):
                if not np.array_equal(self.leaves_joined(X[i:i + size]), want[:, i:i + size]):
                    return False
        return True


def _level_arrays(trees: list[Any], head: int, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The level walk's feature, threshold and children (2i: x <= threshold, 2i + 1: above) by
    node of the joined tree. A leaf goes "left" to itself (threshold +inf), so that extra
    levels keep it in place; the routing nodes are such leaves too, never reached."""
    feats, thrs, kids = [np.zeros(head, dtype=np.intp)], [np.full(head, np.inf)], [np.arange(head).repeat(2)]
    for tree, root in zip(trees, roots):
        leaf = tree.children_left == -1
        node = np.arange(root, root + tree.node_count)
        kids.append(np.column_stack([np.where(leaf, node, tree.children_left + root),
                                     np.where(leaf, node, tree.children_right + root)]).ravel())
        feats.append(np.where(leaf, 0, tree.feature).astype(np.intp))
        thrs.append(np.where(leaf, np.inf, tree.threshold))
    return np.concatenate(feats), np.concatenate(thrs), np.concatenate(kids)


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
