"""A loaded model and the fastest exact way to call it.

The model is a scikit-learn Pipeline that takes a DataFrame with the signature's columns.
Calling it per request costs a DataFrame, scikit-learn's input validation per step and, for a
forest, a dispatch per tree: milliseconds for one row. When the signature is all numeric the
predictor instead builds a float array straight from the request rows and:

  * runs the preprocessing steps on the array itself (ColumnTransformer column lists mapped to
    positions; feature-name checks removed from a private copy of the steps), and
  * predicts with the final estimator, compiled to flat arrays when it is a tree ensemble
    (mlci.serve.forest).

Each shortcut is used only after it reproduced scikit-learn's own answer on generated inputs
(``engine`` says which path won); otherwise, or for rows with missing values, the request
takes the plain pipeline with a DataFrame. ``engine="sklearn"`` forces the plain path.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlci.serve.wire import NUMERIC, BadRequest, Schema

log = logging.getLogger(__name__)

PROBE_ROWS = 256


class Predictor:
    def __init__(self, model_dir: Path, trusted: list[str] | None = None, engine: str = "auto",
                 name: str | None = None, version: str | None = None, fingerprint: str | None = None):
        from mlci.model import load_any, read_signature, verify

        self._name, self._version, self._fingerprint = name, version, fingerprint

        self.model_dir = Path(model_dir)
        self.meta = verify(self.model_dir)
        self.signature = read_signature(self.model_dir)
        self.pipeline = load_any(self.model_dir, trusted=trusted)  # a `command` model too
        self.schema = Schema.from_signature(self.signature)
        if not self.schema.names:
            names = getattr(self.pipeline, "feature_names_in_", None)
            if names is None:
                raise BadRequest(f"{self.model_dir}: the signature lists no inputs")
            self.schema = Schema([str(n) for n in names], [NUMERIC] * len(names), ["float64"] * len(names))
        self.task = self.signature.get("task") or ("classification" if hasattr(self.pipeline, "classes_")
                                                   else "regression")
        final = self._final_estimator()
        self.classes: list[Any] | None = (np.asarray(final.classes_).tolist()
                                          if hasattr(final, "classes_") else None)
        self.can_proba = self.classes is not None and hasattr(self.pipeline, "predict_proba")
        self._steps: list[Any] | None = None
        self._final: Any = None
        self._sk_final: Any = None
        self.engine = "sklearn"
        if engine == "auto" and self.meta.get("format") != "command":
            self._build_fast_path()

    # --- description ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._name or self.meta.get("name") or self.signature.get("name") or self.model_dir.name)

    @property
    def version(self) -> str:
        return str(self._version or self.meta.get("version") or "")

    @property
    def fingerprint(self) -> str:
        """The training fingerprint, as the registry records it: given (the registry version,
        MLCI_MODEL_FINGERPRINT in an image), or from the run directory's run.json; a hash of the
        model files only for a bare model directory."""
        from mlci.util import read_json, sha256_bytes

        if self._fingerprint:
            return self._fingerprint
        run_json = self.model_dir.parent / "run.json"
        if run_json.is_file():
            try:
                return str(read_json(run_json)["fingerprint"])
            except (ValueError, KeyError, OSError):
                pass
        files = self.meta.get("files", {})
        return str(self.meta.get("fingerprint") or
                   sha256_bytes("".join(f"{k}={v};" for k, v in sorted(files.items())).encode())[:16])

    def _final_estimator(self) -> Any:
        steps = getattr(self.pipeline, "steps", None)
        return steps[-1][1] if steps else self.pipeline

    # --- prediction ----------------------------------------------------------------------------
    @property
    def takes_array(self) -> bool:
        """predict() takes a float array of the rows (the fast path is on)."""
        return self._final is not None

    def predict(self, rows: list[list[Any]] | np.ndarray,
                proba: bool = False) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions (and class probabilities when asked) for rows in signature order."""
        if proba and not self.can_proba:
            raise BadRequest("probabilities were asked for, but this model does not give them "
                             f"(task {self.task})")
        if self._final is not None:
            Xt = self._transform(np.asarray(rows, dtype=np.float64))
            final = self._final
            if final is not self._sk_final and np.isnan(Xt).any():
                final = self._sk_final  # missing values: scikit-learn's own routing
            try:
                if proba and final is not self._sk_final:  # the compiled forest: one pass for both
                    labels, probabilities = final.predict_with_proba(Xt)
                    return labels.tolist(), probabilities.tolist()
                labels = np.asarray(final.predict(Xt)).tolist()
                return labels, (final.predict_proba(Xt).tolist() if proba else None)
            except ValueError as exc:
                raise BadRequest(f"the model rejected the input: {exc}") from None
        return self._predict_frame(rows, proba)

    def _frame(self, rows: list[list[Any]]) -> Any:
        import pandas as pd

        frame = pd.DataFrame.from_records(rows, columns=self.schema.names)
        for name, kind, dtype in zip(self.schema.names, self.schema.kinds, self.schema.dtypes):
            if kind == NUMERIC:
                col = pd.to_numeric(frame[name])
                if dtype.lower().startswith(("int", "uint")) and col.isna().any():
                    col = col.astype("float64")  # a missing value in an int column
                elif dtype.lower().startswith(("int", "uint", "float")):
                    try:
                        col = col.astype(dtype.lower())
                    except (TypeError, ValueError):
                        pass
                frame[name] = col
        return frame

    def _predict_frame(self, rows: list[list[Any]], proba: bool) -> tuple[list[Any], list[list[float]] | None]:
        frame = self._frame(rows)
        try:
            labels = np.asarray(self.pipeline.predict(frame)).tolist()
            return labels, (np.asarray(self.pipeline.predict_proba(frame)).tolist() if proba else None)
        except (ValueError, TypeError, KeyError) as exc:
            # scikit-learn rejects inputs it cannot use (NaN where unsupported, unknown categories)
            raise BadRequest(f"the model rejected the input: {exc}") from None

    def _transform(self, X: np.ndarray) -> np.ndarray:
        for step in self._steps or ():
            X = step(X)
        return X

    # --- the fast path -------------------------------------------------------------------------
    def _build_fast_path(self) -> None:
        if not self.schema.all_numeric:
            log.info("serving with the plain pipeline: the signature has non-numeric inputs")
            return
        try:
            steps, final = _compile(self.pipeline, self.schema.names)
        except _NotCompilable as exc:
            log.info("serving with the plain pipeline: %s", exc)
            return
        probes = _input_probes(self.pipeline, len(self.schema.names))
        try:
            transform = _run_steps(steps, probes.copy())  # a step may change its input in place
            frame = self._frame(probes.tolist())
            expected_t = _reference_transform(self.pipeline, frame)
            if expected_t is not None and not _same(transform, expected_t):
                log.info("serving with the plain pipeline: preprocessing on arrays differs from the pipeline")
                return
            ok = _same_predictions(self.pipeline, frame, final, transform, self.can_proba)
        except Exception as exc:  # any surprise means: stay on the exact path
            log.info("serving with the plain pipeline: fast path failed its check (%s)", exc)
            return
        if not ok:
            log.info("serving with the plain pipeline: fast path predictions differ")
            return
        from mlci.serve.forest import CompiledForest, threshold_probes

        sk_final = final
        if CompiledForest.supports(sk_final):
            compiled = CompiledForest(sk_final)
            tp = threshold_probes(sk_final, PROBE_ROWS)
            if compiled.same_leaves(tp) and _same_final(sk_final, compiled, tp, self.can_proba):
                final = compiled
                self.engine = "compiled-forest"
            else:
                log.info("compiled forest differs from scikit-learn; using scikit-learn's")
        if self.engine == "sklearn":
            self.engine = "sklearn-array"
        self._steps, self._final, self._sk_final = steps, final, sk_final


class _NotCompilable(Exception):
    pass


def _strip_names(est: Any) -> Any:
    """A copy of ``est`` without feature_names_in_ (so arrays are accepted without warnings)."""
    est = copy.deepcopy(est)
    for obj in _walk(est):
        if "feature_names_in_" in getattr(obj, "__dict__", {}):
            del obj.__dict__["feature_names_in_"]
    return est


def _walk(est: Any):
    yield est
    for attr in ("steps", "transformers_"):
        for item in getattr(est, attr, None) or []:
            sub = item[1]
            if hasattr(sub, "__dict__"):
                yield from _walk(sub)


def _compile(pipeline: Any, names: list[str]) -> tuple[list[Any], Any]:
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        return [], _strip_names(pipeline)
    funcs = []
    width = len(names)
    positions = {n: i for i, n in enumerate(names)}
    for _, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        if type(step).__name__ == "ColumnTypes" and step.numeric_only():
            continue  # numbers stay numbers: the array is already what the next step gets
        if type(step).__name__ == "ColumnTransformer":
            funcs.append(_column_transformer(step, positions, width))
            width = None
            positions = {}
        else:
            if not hasattr(step, "transform"):
                raise _NotCompilable(f"step {type(step).__name__} has no transform")
            funcs.append(_array_transform(step))
    return funcs, _strip_names(steps[-1][1])


def _column_transformer(ct: Any, positions: dict[str, int], width: int | None) -> Any:
    if not positions:
        raise _NotCompilable("a ColumnTransformer after another transform step")
    parts = []
    for name, trans, cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        idx = _positions(cols, positions, width)
        if not idx and name == "remainder":
            continue
        fn = None if isinstance(trans, str) and trans == "passthrough" else _array_transform(trans)
        every = width is not None and idx == list(range(width))  # all columns in order: no copy
        parts.append((None if every else np.asarray(idx, dtype=np.int64), fn))
    if getattr(ct, "sparse_output_", False):
        raise _NotCompilable("a ColumnTransformer with sparse output")

    def transform(X: np.ndarray) -> np.ndarray:
        out = []
        for idx, fn in parts:
            block = X if idx is None else X[:, idx]
            block = fn(block) if fn is not None else block
            if hasattr(block, "toarray"):
                block = block.toarray()
            out.append(np.asarray(block, dtype=np.float64))
        if len(out) == 1:
            return out[0]
        return np.hstack(out) if out else np.empty((X.shape[0], 0))
    return transform


def _array_transform(step: Any) -> Any:
    """The step as a plain numpy function where that is simple (no per-call validation),
    else its own transform. The parity check decides whether the result is used."""
    kind = type(step).__name__
    module = type(step).__module__
    if module.startswith("sklearn.impute") and kind == "SimpleImputer" and not step.add_indicator \
            and isinstance(step.missing_values, float) and np.isnan(step.missing_values):
        stats = np.asarray(step.statistics_, dtype=np.float64)
        keep = None if getattr(step, "keep_empty_features", False) else ~np.isnan(stats)
        if keep is not None and keep.all():
            keep = None
        fill = stats if keep is None else stats[keep]

        def impute(X: np.ndarray) -> np.ndarray:
            if keep is not None:
                X = X[:, keep]
            return np.where(np.isnan(X), fill, X)
        return impute
    if module.startswith("sklearn.preprocessing") and kind == "StandardScaler":
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def standardize(X: np.ndarray) -> np.ndarray:
            if mean is not None:
                X = X - mean
            if scale is not None:
                X = X / scale
            return X
        return standardize
    return _strip_names(step).transform


def _positions(cols: Any, positions: dict[str, int], width: int | None) -> list[int]:
    if isinstance(cols, slice) or callable(cols):
        raise _NotCompilable("a ColumnTransformer column selector that is not a list")
    if isinstance(cols, (str, int)):
        cols = [cols]
    cols = list(np.asarray(cols).tolist()) if not isinstance(cols, list) else cols
    if cols and all(isinstance(c, bool) for c in cols):
        return [i for i, c in enumerate(cols) if c]
    out = []
    for c in cols:
        if isinstance(c, str):
            if c not in positions:
                raise _NotCompilable(f"column {c!r} is not a signature input")
            out.append(positions[c])
        elif isinstance(c, int):
            out.append(c)
        else:
            raise _NotCompilable(f"column selector {c!r}")
    return out


def _run_steps(steps: list[Any], X: np.ndarray) -> np.ndarray:
    for step in steps:
        X = step(X)
    return np.asarray(X, dtype=np.float64)


def _reference_transform(pipeline: Any, frame: Any) -> np.ndarray | None:
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) == 1:
        return None
    out = pipeline[:-1].transform(frame)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True))


def _same_answers(expected: Any, got: Any) -> bool:
    """Predictions agree: numbers within 1e-9 relative, classes exactly."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.dtype.kind == "f":
        return bool(np.allclose(expected, got, rtol=1e-9, atol=1e-12))
    return bool(np.array_equal(expected, got))


def _same_predictions(pipeline: Any, frame: Any, final: Any, Xt: np.ndarray, proba: bool) -> bool:
    if not _same_answers(pipeline.predict(frame), final.predict(Xt)):
        return False
    if proba:
        return _same(np.asarray(pipeline.predict_proba(frame)), np.asarray(final.predict_proba(Xt)))
    return True


def _same_final(sk: Any, compiled: Any, X: np.ndarray, proba: bool) -> bool:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not _same_answers(sk.predict(X), compiled.predict(X)):
            return False
        if proba:
            return bool(np.allclose(sk.predict_proba(X), compiled.predict_proba(X), rtol=1e-9, atol=1e-12))
    return True


def _input_probes(pipeline: Any, width: int, seed: int = 1) -> np.ndarray:
    """Generated rows for the parity check: near the data when a scaler tells where it is."""
    rng = np.random.default_rng(seed)
    n = PROBE_ROWS
    center, scale = np.zeros(width), np.ones(width)
    for obj in _walk(pipeline):
        mean = getattr(obj, "mean_", None)
        sd = getattr(obj, "scale_", None)
        if mean is not None and sd is not None and np.shape(mean) == (width,):
            center, scale = np.asarray(mean, float), np.asarray(sd, float)
            break
    X = center + scale * rng.normal(size=(n, width))
    X[: n // 4] *= rng.choice([0.01, 0.1, 10.0, 100.0, 1000.0], size=(n // 4, 1))
    X[0] = 0.0
    return X
