"""Built-in metrics: name, tasks it applies to, direction, and how it is computed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: tuple[str, ...]
    greater_is_better: bool
    needs_proba: bool = False


CLASSIFICATION = ("classification",)
REGRESSION = ("regression",)

METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", CLASSIFICATION, True),
    Metric("balanced_accuracy", CLASSIFICATION, True),
    Metric("precision", CLASSIFICATION, True),
    Metric("recall", CLASSIFICATION, True),
    Metric("f1", CLASSIFICATION, True),
    Metric("roc_auc", CLASSIFICATION, True, needs_proba=True),
    Metric("log_loss", CLASSIFICATION, False, needs_proba=True),
    Metric("rmse", REGRESSION, False),
    Metric("mae", REGRESSION, False),
    Metric("r2", REGRESSION, True),
    Metric("mape", REGRESSION, False),
]}

DEFAULT_METRICS = {
    "classification": ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2", "mape"],
}


def names_for(task: str) -> list[str]:
    return [n for n, m in METRICS.items() if task in m.tasks]


def compute(task: str, names: list[str], y_true: Any, y_pred: Any,
            proba: Any = None, classes: list[Any] | None = None) -> dict[str, float]:
    """Compute the named metrics. Binary classification scores the second class as positive;
    multiclass precision/recall/f1 are macro averages and roc_auc is one-vs-rest."""
    import numpy as np
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    binary = classes is not None and len(classes) == 2
    average = "binary" if binary else "macro"
    pos = {"pos_label": classes[1]} if binary else {}
    fns: dict[str, Callable[[], float]] = {
        "accuracy": lambda: skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y_true, y_pred),
        "precision": lambda: skm.precision_score(y_true, y_pred, average=average, zero_division=0, **pos),
        "recall": lambda: skm.recall_score(y_true, y_pred, average=average, zero_division=0, **pos),
        "f1": lambda: skm.f1_score(y_true, y_pred, average=average, zero_division=0, **pos),
        "roc_auc": lambda: (skm.roc_auc_score(y_true, proba[:, 1]) if binary else
                            skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)),
        "log_loss": lambda: skm.log_loss(y_true, proba, labels=classes),
        "rmse": lambda: float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": lambda: skm.mean_absolute_error(y_true, y_pred),
        "r2": lambda: skm.r2_score(y_true, y_pred),
        "mape": lambda: skm.mean_absolute_percentage_error(y_true, y_pred),
    }
    for name in names:
        if METRICS[name].needs_proba and proba is None:
            continue  # the estimator has no predict_proba; recorded as absent
        try:
            out[name] = float(fns[name]())
        except ValueError:  # e.g. roc_auc with one class present in the test set
            out[name] = float("nan")
    return out
