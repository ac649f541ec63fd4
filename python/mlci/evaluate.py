"""Evaluation: score the candidate on the test set, re-score the baseline model (the version
behind `evaluate.baseline`) on the same rows, apply the gates, write metrics.json and
evaluation.json ("blessed" and a reason per gate)."""

from __future__ import annotations

import logging
import time
from typing import Any, TypedDict

from mlci import fingerprint as fp
from mlci import gates as gate_rules
from mlci import metrics as metric_defs
from mlci.model import load_any
from mlci.errors import IntegrityError, UsageError
from mlci.runs import Project, Run, write_json


class Baseline(TypedDict):
    """The model the candidate was compared with (evaluation.json's ``baseline``)."""

    alias: str
    version: int
    fingerprint: str
    metrics: dict[str, float]  # the baseline scored on the candidate's test rows


class Evaluation(TypedDict):
    """evaluation.json: the candidate's metrics, the baseline's and every gate's decision.
    `mlci evaluate --json` prints it with ``failures`` (``gates.failures``) added."""

    blessed: bool
    metrics: dict[str, float]
    baseline: Baseline | None
    gates: list[gate_rules.GateResult]
    failed: list[str]          # the failed gates' reasons
    n_test: int
    run_id: str

log = logging.getLogger(__name__)


def predict(model: Any, X: Any, task: str) -> tuple[Any, Any]:
    y_pred = model.predict(X)
    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(X)
        except (AttributeError, NotImplementedError):
            proba = None
    return y_pred, proba


def score(model: Any, X: Any, y: Any, task: str, names: list[str]) -> tuple[dict[str, float], Any, Any]:
    y_pred, proba = predict(model, X, task)
    classes = list(model.classes_) if task == "classification" and hasattr(model, "classes_") else None
    return metric_defs.compute(task, names, y, y_pred, proba, classes), y_pred, proba


def baseline_record(project: Project) -> dict[str, Any] | None:
    """The registry version behind evaluate.baseline, or None when there is none yet."""
    alias = project.config.evaluate.baseline
    if not alias:
        return None
    from mlci.registry import Registry

    registry = Registry(project.open_store(), project.config.name)
    rec = registry.alias(alias)
    return registry.get(rec["version"]) if rec else None


def comparable_baseline(project: Project, run: Run) -> dict[str, Any] | None:
    """The baseline, unless it is this very model (a model is not compared with itself)."""
    baseline = baseline_record(project)
    if baseline is not None and baseline.get("fingerprint") == (run.stage("train") or {}).get("fingerprint"):
        return None
    return baseline


def evaluate_fingerprint(project: Project, run: Run, baseline: dict[str, Any] | None) -> str:
    train = run.stage("train") or {}
    base = {"version": baseline["version"], "fingerprint": baseline["fingerprint"]} if baseline else None
    return fp.digest({"train": train.get("fingerprint"), "evaluate": project.section("task", "evaluate"),
                      "baseline": base, "mlci": project.versions["mlci"]})


def evaluate(project: Project, run: Run, force: bool = False) -> dict[str, Any]:
    cfg = project.config
    started = time.time()
    baseline = comparable_baseline(project, run)
    fingerprint = evaluate_fingerprint(project, run, baseline)
    done = run.up_to_date("evaluate", fingerprint)
    if done and not force:
        return {**done["summary"], "status": "up to date"}

    import pandas as pd

    test = pd.read_parquet(run.file("test.parquet"))
    y = test.pop(cfg.data.target)
    trusted = cfg.model.trusted_types
    model = load_any(run.file("model"), trusted)
    names = cfg.metric_names
    candidate, y_pred, proba = score(model, test, y, cfg.task, names)

    base_metrics = None
    base_info = None
    if baseline is not None:
        from mlci.registry import download_model

        try:
            base_dir = download_model(project.open_store(), baseline, project.workspace / "cache" / "models")
            base_model = load_any(base_dir, trusted)
            base_metrics, _, _ = score(base_model, test, y, cfg.task, names)
        except (UsageError, IntegrityError, KeyError, ValueError) as exc:
            raise UsageError(f"baseline {cfg.name}@{cfg.evaluate.baseline} (v{baseline['version']}) "
                             f"cannot be scored on this test set: {exc}") from None
        base_info = {"alias": cfg.evaluate.baseline, "version": baseline["version"],
                     "fingerprint": baseline["fingerprint"], "metrics": base_metrics}

    blessed, results = gate_rules.check_all(cfg.evaluate.gates, candidate, base_metrics)
    failed = [r["reason"] for r in results if r["passed"] is False]
    evaluation: Evaluation = {"blessed": blessed, "metrics": candidate, "baseline": base_info, "gates": results,
                  "failed": failed, "n_test": len(y), "run_id": run.run_id}
    preds = pd.DataFrame({"y_true": y.to_numpy(), "y_pred": y_pred})
    if proba is not None:
        for i, cls in enumerate(model.classes_):
            preds[f"proba_{cls}"] = proba[:, i]
    preds.to_parquet(run.file("predictions.parquet"))
    write_json(run.file("metrics.json"), candidate)
    write_json(run.file("evaluation.json"), evaluation)
    summary = {"blessed": blessed, "metrics": candidate, "failed": failed,
               "baseline_version": baseline["version"] if baseline else None}
    run.record("evaluate", fingerprint, 0 if blessed else 1, started, summary)
    return {**summary, "status": "evaluated"}
