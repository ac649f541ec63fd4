"""Training: load data, build a scikit-learn Pipeline around the configured estimator, fit,
save with skops into the run directory. Deterministic given the seed."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from mlci import data as data_io
from mlci import model_io
from mlci.errors import ConfigError, DataError
from mlci.registry import now
from mlci.runs import Project, Run, write_json

log = logging.getLogger(__name__)

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


def build_pipeline(estimator: Any, numeric: list[str], categorical: list[str]) -> Any:
    """Numeric columns: median imputation. Categorical columns: one-hot encoding (missing
    values are their own category; categories unseen in training are ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    parts = []
    if numeric:
        parts.append(("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical))
    pre = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("model", estimator)])


def _json_safe(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def load_split(project: Project) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """(X_train, X_test, y_train, y_test, info) from data.train/test or the split settings."""
    cfg = project.config
    files = project.data_files()
    train_df = data_io.read_table(files["train"], "data.train")
    X, y = data_io.split_xy(train_df, cfg, str(files["train"]))
    info: dict[str, Any] = {"train_rows": len(train_df)}
    if "test" in files:
        test_df = data_io.read_table(files["test"], "data.test")
        X_test, y_test = data_io.split_xy(test_df, cfg, str(files["test"]))
        missing = [c for c in X.columns if c not in X_test.columns]
        if missing:
            raise DataError(f"{files['test']}: missing feature columns {', '.join(missing)}")
        X_test = X_test[list(X.columns)]
        info["split"] = "file"
        return X, X_test, y, y_test, info
    from sklearn.model_selection import train_test_split

    stratify = None
    if cfg.task == "classification" and cfg.split.stratify:
        counts = y.value_counts()
        if counts.min() < 2:
            raise DataError(f"{files['train']}: class {counts.idxmin()!r} of `{cfg.data.target}` has a "
                            "single row; stratified splitting needs at least two (set split.stratify: false)")
        stratify = y
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=cfg.split.test_size, random_state=cfg.split.seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"{files['train']}: cannot split {len(X)} rows with test_size="
                        f"{cfg.split.test_size}: {exc}") from None
    info["split"] = "random"
    return X_train, X_test, y_train, y_test, info


def train(project: Project, force: bool = False,
          on_step: Callable[[str], None] | None = None, device: Any = None,
          on_output: Callable[[str], None] | None = None, in_container: bool | None = None,
          image: str | None = None) -> dict[str, Any]:
    """Train unless the run for these inputs is already trained. Returns a summary.
    ``device`` (mlci.devices.Device) is recorded and handed to a command trainer, whose
    output lines go to ``on_output``. ``in_container`` (default: train.in_container) trains
    inside the agent image instead (mlci.trainers.container)."""
    step = on_step or (lambda _msg: None)
    cfg = project.config
    started = time.time()
    fingerprint = project.train_fingerprint()
    run_id = fingerprint[:16]
    final = project.runs_dir / run_id
    run = Run(run_id, final)
    done = run.up_to_date("train", fingerprint)
    if done and not force and (final / "model" / model_io.META_FILE).is_file():
        project.set_latest(run_id)
        return {"run_id": run_id, "status": "up to date", "fingerprint": fingerprint, **done["summary"]}
    if device is None:
        from mlci.devices import for_training

        device = for_training(cfg.train.device, cfg.model.trainer)
    if (cfg.train.in_container if in_container is None else in_container) and not os.environ.get("MLCI_IN_CONTAINER"):
        from mlci.trainers.container import train_in_container

        return train_in_container(project, device, image=image, force=force, on_output=on_output)
    if cfg.model.trainer == "command":
        from mlci.trainers.command import train_command

        return train_command(project, run_id, fingerprint, started, step, device, on_output)

    step("loading data")
    t0 = time.perf_counter()
    X_train, X_test, y_train, y_test, info = load_split(project)
    t_load = time.perf_counter() - t0

    est_path = cfg.model.estimator or DEFAULT_ESTIMATORS[cfg.task]
    cls = resolve_estimator(est_path, cfg.task)
    estimator = make_estimator(cls, cfg.model.params, cfg.split.seed)
    categorical = data_io.categorical_columns(X_train, cfg)
    numeric = [c for c in X_train.columns if c not in set(categorical)]
    pipeline = build_pipeline(estimator, numeric, categorical)

    step(f"fitting {cls.__name__} on {len(X_train)} rows")
    t0 = time.perf_counter()
    try:
        pipeline.fit(X_train, y_train)
    except ValueError as exc:  # includes sklearn's InvalidParameterError
        msg = str(exc).splitlines()[0]
        if "parameter" in msg:
            raise ConfigError(f"model.params: {msg}") from None
        raise DataError(f"{project.data_files()['train']}: training failed: {msg}") from None
    t_fit = time.perf_counter() - t0

    step("saving model")
    t0 = time.perf_counter()
    project.runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = project.runs_dir / f".tmp-{run_id}-{time.time_ns()}"
    tmp.mkdir()
    try:
        signature = {
            "inputs": [{"name": c, "dtype": data_io.dtype_name(X_train[c]), "categorical": c in categorical}
                       for c in X_train.columns],
            "target": cfg.data.target, "task": cfg.task,
        }
        if cfg.task == "classification":
            signature["classes"] = _json_safe(pipeline.classes_)
        model_io.save(pipeline, tmp / "model", signature,
                      extra={"name": cfg.name, "run_id": run_id, "estimator": est_path})
        test = X_test.copy()
        test[cfg.data.target] = y_test
        test.reset_index(drop=True).to_parquet(tmp / "test.parquet")
        _reference_stats(X_train, tmp)
        t_save = time.perf_counter() - t0
        summary = {"estimator": est_path, "n_train": len(X_train), "n_test": len(X_test),
                   "features": len(X_train.columns), "categorical": categorical}
        run_info = {
            "run_id": run_id, "name": cfg.name, "task": cfg.task, "fingerprint": fingerprint,
            "created": now(), "estimator": est_path, "params": estimator.get_params(deep=False),
            "data": {role: {"path": str(p), "sha256": project.data_hashes.get(role)}
                     for role, p in project.data_files().items()},
            "split": info, "features": list(X_train.columns), "categorical": categorical,
            "n_train": len(X_train), "n_test": len(X_test), "code": project.code,
            "versions": project.versions, "config": cfg.normalized(),
            "timings_s": {"load": round(t_load, 3), "fit": round(t_fit, 3), "save": round(t_save, 3)},
            "device": device.as_record() if device is not None else None,
        }
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return finish_run(project, tmp, run_info, started, summary, t_fit)


def finish_run(project: Project, tmp: Path, run_info: dict[str, Any], started: float,
               summary: dict[str, Any], t_fit: float) -> dict[str, Any]:
    """Make a trained run visible: run.json, then one rename of the temporary directory into
    place (a rerun replaces the old one), the stage record and the LATEST pointer."""
    run_id, fingerprint = run_info["run_id"], run_info["fingerprint"]
    final = project.runs_dir / run_id
    try:
        write_json(tmp / "run.json", run_info)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    Run(run_id, final).record("train", fingerprint, 0, started, summary)
    project.set_latest(run_id)
    return {"run_id": run_id, "status": "trained", "fingerprint": fingerprint,
            "fit_s": round(t_fit, 3), **summary}


def _reference_stats(X_train: Any, out: Path) -> None:
    """Reference statistics of the training data, for drift checks against this model later.
    Compact JSON: every distinct value per column makes the file large (and indenting slow)."""
    from mlci.validation import reference_stats, write_reference_stats

    write_reference_stats(reference_stats(X_train), out / "reference_stats.json")
