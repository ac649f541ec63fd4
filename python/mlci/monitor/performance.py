"""Live performance: late ground-truth labels joined to logged predictions by request id.

The join key is (request id, row): ``row`` is the position of a row within a multi-row
request; a labels file without a row column labels row 0 of each request (single-row
requests, the usual case). The rules, each counted in the result:

  * a request id logged more than once (a client retrying with the same X-Request-ID): the
    latest logged prediction counts (``duplicate_predictions``);
  * a key labelled more than once: the last label in the file counts, as a correction
    (``duplicate_labels``; ``conflicting_labels`` of them disagreed);
  * an empty label is no label (``missing_labels``); a label whose request was not logged
    (sampled out, or older logs) is ``unmatched_labels``;
  * coverage = labelled predictions / logged predictions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from mlci.errors import DataError, UsageError
from mlci.results import Failure, failure

PERF_FORMAT = "mlci-monitor-performance/1"


def read_labels(path: Path, id_column: str, label_column: str, row_column: str) -> Any:
    """DataFrame request_id (str), row (int), label; rows in file order."""
    import pandas as pd

    from mlci.data import read_table

    path = Path(path)
    if not path.is_file():
        raise DataError(f"--labels {path}: file not found")
    frame = read_table(path, "labels")
    for col in (id_column, label_column):
        if col not in frame.columns:
            raise DataError(f"--labels {path}: no column `{col}` (columns: {', '.join(map(str, frame.columns))}); "
                            "set the names with --id-column/--label-column or monitor.performance")
    out = pd.DataFrame({"request_id": frame[id_column].astype(str), "label": frame[label_column]})
    if row_column in frame.columns:
        out["row"] = pd.to_numeric(frame[row_column], errors="coerce").fillna(0).astype("int64")
    else:
        out["row"] = 0
    return out


def join(predictions: Any, labels: Any) -> tuple[Any, dict[str, int]]:
    """Labelled predictions (request_id, row, prediction, proba, label) and the join counts."""
    counts: dict[str, int] = {}
    preds = predictions.sort_values("ts", kind="stable")
    dup_pred = preds.duplicated(["request_id", "row"], keep="last")
    counts["predictions"] = int((~dup_pred).sum())
    counts["duplicate_predictions"] = int(dup_pred.sum())
    preds = preds[~dup_pred]

    missing = labels["label"].isna() | (labels["label"].astype(str).str.strip() == "")
    counts["labels"] = int(len(labels))
    counts["missing_labels"] = int(missing.sum())
    labels = labels[~missing]
    dup_label = labels.duplicated(["request_id", "row"], keep="last")
    counts["duplicate_labels"] = int(dup_label.sum())
    if dup_label.any():
        groups = labels.groupby(["request_id", "row"])["label"].nunique()
        counts["conflicting_labels"] = int((groups > 1).sum())
    else:
        counts["conflicting_labels"] = 0
    labels = labels[~dup_label]

    joined = preds.merge(labels, on=["request_id", "row"], how="inner")
    counts["labelled"] = int(len(joined))
    counts["unmatched_labels"] = int(len(labels) - len(joined))
    counts["unlabelled"] = counts["predictions"] - counts["labelled"]
    return joined, counts


def _labels_as_classes(labels: Any, classes: list[Any] | None) -> list[Any]:
    """Labels read from CSV in the type of the model's classes (1 vs "1" vs 1.0)."""
    if not classes:
        return list(labels)
    by_text = {str(c): c for c in classes}
    for c in classes:
        if isinstance(c, (int, float)) and not isinstance(c, bool) and float(c).is_integer():
            by_text.setdefault(str(float(c)), c)
    return [by_text.get(str(v), v) for v in labels]


def live_metrics(task: str, joined: Any, classes: list[Any] | None, names: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(metrics, names that could not be computed, e.g. needing probabilities not logged)."""
    import numpy as np

    from mlci import metrics as metric_defs

    if joined.empty:
        return {n: None for n in names}, []
    if task == "classification":
        y_true = _labels_as_classes(joined["label"], classes)
        y_pred = list(joined["prediction"])
        proba = None
        if joined["proba"].notna().all():
            proba = np.asarray(list(joined["proba"]), dtype=np.float64)
        use_classes = classes or sorted(set(y_true) | set(y_pred), key=str)
    else:
        y_true = np.asarray(joined["label"], dtype=np.float64)
        y_pred = np.asarray(joined["prediction"], dtype=np.float64)
        proba, use_classes = None, None
    try:
        got = metric_defs.compute(task, names, y_true, y_pred, proba, use_classes)
    except (TypeError, ValueError) as exc:
        raise DataError(f"cannot compare labels with predictions: {exc}") from None
    unavailable = [n for n in names if n not in got]
    out = {n: (None if n not in got or (isinstance(got[n], float) and math.isnan(got[n])) else got[n])
           for n in names}
    return out, unavailable


class LiveGateResult(TypedDict):
    metric: str
    value: float | None        # live
    evaluation: float | None   # at evaluation time
    max_drop: float | None
    threshold: float | None
    passed: bool | None        # None: not judged
    reason: str
    drop: NotRequired[float]


class LivePerformance(TypedDict):
    """performance.json, the result of `mlci monitor performance` (also its --json output)."""

    format: str
    model: str
    version: int
    task: str
    logs: dict[str, Any]
    labels: str
    join: dict[str, int]       # predictions, labelled, unmatched_labels, ...
    coverage: float
    metrics: list[dict[str, Any]]  # {metric, live, evaluation, delta}
    unavailable: list[str]
    gates: list[LiveGateResult]
    judged: bool
    passed: bool
    failed: bool
    failures: list[Failure]    # the live gates that failed
    summary: str


def judge(gates: list[Any], live: dict[str, Any], evaluation: dict[str, Any], enough: bool) -> list[LiveGateResult]:
    from mlci import metrics as metric_defs

    out: list[LiveGateResult] = []
    for gate in gates:
        m = metric_defs.METRICS.get(gate.metric)
        if m is None:
            raise UsageError(f"live gate metric `{gate.metric}`: expected one of {', '.join(metric_defs.METRICS)}")
        value, base = live.get(gate.metric), evaluation.get(gate.metric)
        row: LiveGateResult = {"metric": gate.metric, "value": value, "evaluation": base, "max_drop": gate.max_drop,
               "threshold": gate.threshold, "passed": None, "reason": ""}
        if not enough:
            row["reason"] = "not judged: too few labelled predictions"
        elif value is None:
            row["reason"] = "not judged: no live value"
        else:
            ok, reasons = True, []
            if gate.max_drop is not None:
                if base is None:
                    reasons.append("no evaluation value to compare with")
                else:
                    drop = (base - value) if m.greater_is_better else (value - base)
                    row["drop"] = drop
                    if drop > gate.max_drop + 1e-12:
                        ok = False
                        reasons.append(f"dropped {drop:.4g} from evaluation {base:.4g} (max {gate.max_drop})")
            if gate.threshold is not None:
                good = value >= gate.threshold if m.greater_is_better else value <= gate.threshold
                if not good:
                    ok = False
                    reasons.append(f"{value:.4g} {'<' if m.greater_is_better else '>'} threshold {gate.threshold}")
            row["passed"] = ok
            row["reason"] = "; ".join(reasons) or "ok"
        out.append(row)
    return out


def live_performance(record: dict[str, Any], logs_path: Path, labels_path: Path, settings: Any,
                     gates: list[Any], since: float | None = None) -> LivePerformance:
    from mlci import metrics as metric_defs
    from mlci.monitor import logs as predlogs

    read = predlogs.read_logs(Path(logs_path), since)
    predictions = predlogs.predictions_frame(read)
    if predictions.empty:
        raise DataError(f"--logs {logs_path}: no logged predictions")
    labels = read_labels(Path(labels_path), settings.id_column, settings.label_column, settings.row_column)
    joined, counts = join(predictions, labels)
    task = record.get("task") or "classification"
    evaluation = {k: v for k, v in (record.get("metrics") or {}).items() if isinstance(v, (int, float))}
    known = metric_defs.names_for(task)
    names = [n for n in evaluation if n in known] or metric_defs.DEFAULT_METRICS[task]
    for g in gates:
        if g.metric not in names and g.metric in known:
            names.append(g.metric)
    live, unavailable = live_metrics(task, joined, predlogs.classes_of(read), names)
    enough = counts["labelled"] >= settings.min_labels
    judged = judge(gates, live, evaluation, enough)
    failed = [g for g in judged if g["passed"] is False]
    coverage = counts["labelled"] / counts["predictions"] if counts["predictions"] else 0.0
    metrics = [{"metric": n, "live": live.get(n), "evaluation": evaluation.get(n),
                "delta": (live[n] - evaluation[n]) if live.get(n) is not None and evaluation.get(n) is not None
                else None} for n in names]
    summary = (f"live performance {'FAILED' if failed else 'ok'}: {counts['labelled']} of "
               f"{counts['predictions']} predictions labelled (coverage {coverage:.1%})"
               + ("" if enough else f"; fewer than {settings.min_labels} labels, gates not judged")
               + (f"; failed: {', '.join(g['metric'] for g in failed)}" if failed else ""))
    return {"format": PERF_FORMAT, "model": record["name"], "version": record["version"], "task": task,
            "logs": read.describe(Path(logs_path)), "labels": str(labels_path), "join": counts,
            "coverage": coverage, "metrics": metrics, "unavailable": unavailable, "gates": judged,
            "judged": enough, "passed": not failed, "failed": bool(failed),
            "failures": [failure(g["metric"], g["reason"]) for g in failed], "summary": summary}
