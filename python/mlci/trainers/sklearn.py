"""The built-in trainer: a scikit-learn Pipeline (preprocessing + model.estimator), saved with
skops into the model directory."""

from __future__ import annotations

import contextlib
import copy
import difflib
import importlib
import inspect
import time
from typing import Any, Iterator

from mlci import model, preload
from mlci.errors import ConfigError, DataError
from mlci.trainers.base import Job, Trained

DEFAULT_ESTIMATORS = {
    "classification": "sklearn.ensemble.RandomForestClassifier",
    "regression": "sklearn.ensemble.RandomForestRegressor",
}


def resolve_estimator(path: str, task: str, where: str = "model.estimator") -> type:
    """Import the class named by ``path`` and check it is an estimator for ``task``.
    Nothing is called before the checks pass."""
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{where}: {path!r} is not an import path (expected e.g. "
                          "sklearn.ensemble.RandomForestClassifier)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module `{module_name}` ({exc})") from None
    obj = getattr(module, attr, None)
    if obj is None:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f" (did you mean `{module_name}.{close[0]}`?)" if close else ""
        raise ConfigError(f"{where}: `{module_name}` has no `{attr}`{hint}")
    if not inspect.isclass(obj) or not issubclass(obj, BaseEstimator):
        raise ConfigError(f"{where}: `{path}` is not a scikit-learn estimator class")
    mixin = ClassifierMixin if task == "classification" else RegressorMixin
    if not issubclass(obj, mixin):
        raise ConfigError(f"{where}: `{path}` is not a {task[:-1] if task.endswith('s') else task} "
                          f"estimator (task is {task})")
    return obj


def make_estimator(cls: type, params: dict[str, Any], seed: int) -> Any:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ConfigError(f"model.params.{key}: {cls.__name__} has no parameter `{key}`{hint}")
    params = dict(params)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    return cls(**params)


def build_pipeline(estimator: Any, roles: dict[str, str], na_values: dict[str, list[str]] | None = None) -> Any:
    """First the column-type contract (mlci.model.prepare.ColumnTypes: every value as its
    role says). Then numeric, boolean and datetime columns: median imputation; categorical
    columns: one-hot encoding (a missing value is its own category when training saw one;
    categories unseen in training, and a missing value training never saw, are ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlci.model.prepare import ColumnTypes

    categorical = [c for c, r in roles.items() if r == "categorical"]
    numeric = [c for c, r in roles.items() if r != "categorical"]
    parts = []
    if numeric:
        parts.append(("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    pre = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("columns", ColumnTypes(dict(roles), dict(na_values or {}))), ("preprocess", pre),
                     ("model", estimator)])


def fit(job: Job) -> Trained:
    cfg = job.project.config
    X_train, y_train = job.split.X_train, job.split.y_train
    est_path = cfg.model.estimator or DEFAULT_ESTIMATORS[cfg.task]
    cls = resolve_estimator(est_path, cfg.task)
    estimator = make_estimator(cls, cfg.model.params, cfg.split.seed)
    pipeline = build_pipeline(estimator, model.signature.roles(job.signature),  # type: ignore[arg-type]
                              model.signature.missing_texts(job.signature))  # type: ignore[arg-type]

    n_trees = estimator.get_params().get("n_estimators")
    donor = _last_forest if _family is not None and _last_forest and _last_forest[0] == _family else None
    if donor and isinstance(n_trees, int) and 0 < n_trees <= donor[1].named_steps["model"].n_estimators:
        job.step(f"taking the first {n_trees} trees of run {donor[2]}'s {cls.__name__}")
        t0 = time.perf_counter()
        pipeline = first_trees(donor[1], n_trees)
        fit_s = time.perf_counter() - t0
        trees_from = {"run_id": donor[2], "n_estimators": donor[1].named_steps["model"].n_estimators,
                      "fit_s": round(donor[3], 3)}
        run, summary = {"trees_from": trees_from}, {"trees_from": donor[2]}
    else:
        job.step(f"fitting {cls.__name__} on {len(X_train)} rows")
        t0 = time.perf_counter()
        try:
            with preload.while_waiting(model.skops_io):  # saving needs skops right after
                pipeline.fit(X_train, y_train)
                fit_s = time.perf_counter() - t0
        except ValueError as exc:  # includes sklearn's InvalidParameterError
            msg = str(exc).splitlines()[0]
            if "parameter" in msg:
                raise ConfigError(f"model.params: {msg}") from None
            raise DataError(f"{job.project.data_sources['train'].label}: training failed: {msg}") from None
        run, summary = {}, {}
        if _family is not None:
            _remember_forest(_family, pipeline, job.run_id, fit_s)

    job.step("saving model")
    model.save(pipeline, job.model_dir, job.signature,
               extra={"name": cfg.name, "run_id": job.run_id, "estimator": est_path},
               trusted=cfg.model.trusted_types)
    return Trained(estimator=est_path, params=estimator.get_params(deep=False), fit_s=fit_s, run=run, summary=summary)


# --- forests that share one fit (mlci.sweep) ----------------------------------------------------
# A forest's first k trees are exactly the forest fitted with n_estimators=k: each tree's
# random_state is drawn in turn from the forest's (which is why warm_start works). mlci.sweep
# trains candidates that differ only in a forest's n_estimators one after the other in one
# process, largest first, each inside ``forest_family(key)`` (key: the training fingerprint
# without n_estimators; only for forests without warm_start and oob_score). The forest fitted
# last in a family is kept, and a smaller one of the same family takes its first trees.
_family: str | None = None
_last_forest: tuple[str, Any, str, float] | None = None  # (family, fitted pipeline, run id, fit_s)


@contextlib.contextmanager
def forest_family(key: str | None) -> Iterator[None]:
    """Within: a forest fitted is kept under ``key``; a smaller one under the same key takes
    its first trees. ``None``: train as always."""
    global _family
    _family = key
    try:
        yield
    finally:
        _family = None


def _remember_forest(key: str, pipeline: Any, run_id: str, fit_s: float) -> None:
    global _last_forest
    _last_forest = (key, pipeline, run_id, fit_s)


def forget_forests() -> None:
    global _last_forest
    _last_forest = None


def first_trees(pipeline: Any, n: int) -> Any:
    """A copy of a fitted forest pipeline with the forest's first ``n`` trees (shared, not
    copied: a fitted tree is never changed) and n_estimators=n."""
    forest = pipeline.named_steps["model"]
    out = copy.deepcopy(pipeline, {id(forest.estimators_): forest.estimators_[:n]})
    out.named_steps["model"].n_estimators = n
    return out
