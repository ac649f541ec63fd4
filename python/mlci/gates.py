"""Evaluation gates: absolute thresholds and comparisons with a baseline model.

Semantics follow MLflow's MetricThreshold, plus a regression bound:
  threshold            candidate >= threshold (<= when lower is better)
  min_absolute_change  candidate - baseline >= x (baseline - candidate when lower is better)
  min_relative_change  (candidate - baseline) / |baseline| >= x (sign flipped likewise)
  max_regression       the candidate may be worse than the baseline by at most x
Baseline bounds are skipped (and say so) when there is no baseline yet.
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

from mlci.config import Gate
from mlci.metrics import METRICS
from mlci.results import Failure, failure

Kind = Literal["threshold", "min_absolute_change", "min_relative_change", "max_regression"]


class GateResult(TypedDict):
    """One bound of one gate, as evaluation.json's ``gates[]`` holds it."""

    metric: str
    kind: Kind
    bound: float
    value: float | None     # the candidate's
    baseline: float | None  # the baseline model's, when there is one
    passed: bool | None     # None: skipped (no baseline to compare with)
    reason: str             # one line for people


def name(result: GateResult) -> str:
    """``roc_auc threshold``: how failures and tables name a gate bound."""
    return f"{result['metric']} {result['kind']}"


def failures(results: list[GateResult]) -> list[Failure]:
    """The gate bounds that were not met."""
    return [failure(name(r), r["reason"]) for r in results if r["passed"] is False]


def direction(gate: Gate) -> bool:
    if gate.greater_is_better is not None:
        return gate.greater_is_better
    return METRICS[gate.metric].greater_is_better


def check(gate: Gate, candidate: dict[str, float], baseline: dict[str, float] | None) -> list[GateResult]:
    """One result per bound in the gate: {metric, kind, bound, value, baseline, passed, reason}."""
    gib = direction(gate)
    metric = gate.metric
    value = candidate.get(metric)
    base = baseline.get(metric) if baseline else None
    results: list[GateResult] = []

    def result(kind: Kind, bound: float, passed: bool | None, reason: str) -> None:
        results.append({"metric": metric, "kind": kind, "bound": bound, "value": value,
                        "baseline": base, "passed": passed, "reason": reason})

    bad_value = value is None or (isinstance(value, float) and math.isnan(value))
    better = ">=" if gib else "<="
    if gate.threshold is not None:
        if bad_value:
            result("threshold", gate.threshold, False, f"{metric} could not be computed")
        else:
            ok = value >= gate.threshold if gib else value <= gate.threshold
            result("threshold", gate.threshold, ok,
                   f"{metric} {value:.4f} {'meets' if ok else 'fails'} threshold {better} {gate.threshold}")
    for kind in ("min_absolute_change", "min_relative_change", "max_regression"):
        bound = getattr(gate, kind)
        if bound is None:
            continue
        if base is None or (isinstance(base, float) and math.isnan(base)):
            result(kind, bound, None, f"{metric}: no baseline to compare with; {kind} skipped")
            continue
        if bad_value:
            result(kind, bound, False, f"{metric} could not be computed")
            continue
        gain = (value - base) if gib else (base - value)  # > 0 means the candidate is better
        if kind == "min_absolute_change":
            ok = gain >= bound
            result(kind, bound, ok, f"{metric} changed by {gain:+.4f} vs baseline {base:.4f} "
                                    f"(needs >= {bound:+})")
        elif kind == "min_relative_change":
            rel = gain / abs(base) if base != 0 else (math.inf if gain > 0 else 0.0 if gain == 0 else -math.inf)
            ok = rel >= bound
            result(kind, bound, ok, f"{metric} changed by {rel:+.2%} vs baseline {base:.4f} "
                                    f"(needs >= {bound:+.2%})")
        else:
            ok = -gain <= bound
            result(kind, bound, ok, f"{metric} {value:.4f} vs baseline {base:.4f}: regression "
                                    f"{max(0.0, -gain):.4f} (allowed {bound})")
    return results


def check_all(gates: list[Gate], candidate: dict[str, float],
              baseline: dict[str, float] | None) -> tuple[bool, list[GateResult]]:
    results = [r for g in gates for r in check(g, candidate, baseline)]
    return all(r["passed"] is not False for r in results), results
