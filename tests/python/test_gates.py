"""`mlci.gates.check`: each bound on its edge, in both directions. Values are binary fractions
(0.25, 0.5, 0.75, ...), so "exactly at the bound" is exact in floating point too."""

from __future__ import annotations

import math

import pytest

from mlci.config import Gate
from mlci.gates import check, check_all


def passed(gate: dict, value: float | None, baseline: float | None = None) -> bool | None:
    """The verdict of a gate with one bound on one metric."""
    gate = Gate(**gate)
    base = None if baseline is None else {gate.metric: baseline}
    (result,) = check(gate, {gate.metric: value}, base)
    return result["passed"]


# --- threshold ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [(0.75, True), (0.8125, True), (0.6875, False)])
def test_threshold_where_greater_is_better_includes_the_bound(value, expected):
    assert passed({"metric": "accuracy", "threshold": 0.75}, value) is expected


@pytest.mark.parametrize("value, expected", [(0.5, True), (0.4375, True), (0.5625, False)])
def test_threshold_where_lower_is_better_includes_the_bound(value, expected):
    assert passed({"metric": "rmse", "threshold": 0.5}, value) is expected


@pytest.mark.parametrize("value, expected", [(0.25, True), (0.125, True), (0.375, False)])
def test_greater_is_better_false_turns_a_threshold_into_an_upper_bound(value, expected):
    # accuracy is greater-is-better by default; the gate overrides the direction
    assert passed({"metric": "accuracy", "threshold": 0.25, "greater_is_better": False}, value) is expected


def test_threshold_reason_names_the_value_and_the_direction():
    (low,) = check(Gate(metric="rmse", threshold=0.5), {"rmse": 0.5625}, None)
    assert low["reason"] == "rmse 0.5625 fails threshold <= 0.5"
    (high,) = check(Gate(metric="f1", threshold=0.75), {"f1": 0.75}, None)
    assert high["reason"] == "f1 0.7500 meets threshold >= 0.75"


@pytest.mark.parametrize("value", [None, float("nan")])
def test_a_metric_that_could_not_be_computed_fails_the_threshold(value):
    assert passed({"metric": "roc_auc", "threshold": 0.5}, value) is False


# --- max_regression ----------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (0.5, True),       # worse by exactly the bound (0.25)
    (0.625, True),     # worse by less than the bound
    (0.4375, False),   # worse by more than the bound
    (0.75, True),      # the same
    (1.0, True),       # better by more than the bound
])
def test_max_regression_where_greater_is_better(value, expected):
    assert passed({"metric": "f1", "max_regression": 0.25}, value, baseline=0.75) is expected


@pytest.mark.parametrize("value, expected", [
    (0.75, True),      # worse (higher) by exactly the bound
    (0.625, True),     # worse by less
    (0.8125, False),   # worse by more
    (0.125, True),     # better (lower) by more than the bound
])
def test_max_regression_where_lower_is_better(value, expected):
    assert passed({"metric": "rmse", "max_regression": 0.25}, value, baseline=0.5) is expected


def test_max_regression_follows_greater_is_better_false():
    gate = {"metric": "accuracy", "max_regression": 0.25, "greater_is_better": False}
    assert passed(gate, 0.8125, baseline=0.5) is False  # higher is worse here
    assert passed(gate, 0.125, baseline=0.5) is True


def test_max_regression_reason_gives_the_regression_and_the_allowance():
    (r,) = check(Gate(metric="f1", max_regression=0.25), {"f1": 0.4375}, {"f1": 0.75})
    assert r["passed"] is False
    assert r["reason"] == "f1 0.4375 vs baseline 0.7500: regression 0.3125 (allowed 0.25)"
    assert (r["value"], r["baseline"], r["bound"], r["kind"]) == (0.4375, 0.75, 0.25, "max_regression")


# --- min_absolute_change / min_relative_change -------------------------------------------------
@pytest.mark.parametrize("value, expected", [(0.75, True), (0.6875, False)])
def test_min_absolute_change_includes_the_bound(value, expected):
    assert passed({"metric": "accuracy", "min_absolute_change": 0.25}, value, baseline=0.5) is expected


@pytest.mark.parametrize("value, expected", [(0.25, True), (0.3125, False)])
def test_min_absolute_change_where_lower_is_better_counts_a_decrease_as_gain(value, expected):
    assert passed({"metric": "mae", "min_absolute_change": 0.25}, value, baseline=0.5) is expected


@pytest.mark.parametrize("bound, value, expected", [
    (0.0, 0.5, True),       # a bound of 0: no worse than the baseline
    (0.0, 0.4375, False),
    (0.25, 0.625, True),    # (0.625 - 0.5) / 0.5 = +25 %, exactly the bound
    (0.25, 0.5625, False),  # +12.5 %
])
def test_min_relative_change_is_relative_to_the_baseline(bound, value, expected):
    assert passed({"metric": "accuracy", "min_relative_change": bound}, value, baseline=0.5) is expected


def test_min_relative_change_where_lower_is_better_divides_by_the_baseline_magnitude():
    # rmse 0.375 vs 0.5: 25 % better; 0.625 vs 0.5: 25 % worse
    assert passed({"metric": "rmse", "min_relative_change": 0.25}, 0.375, baseline=0.5) is True
    assert passed({"metric": "rmse", "min_relative_change": -0.25}, 0.625, baseline=0.5) is True
    assert passed({"metric": "rmse", "min_relative_change": -0.25}, 0.6875, baseline=0.5) is False


def test_min_relative_change_from_a_negative_baseline_keeps_the_sign_of_the_gain():
    # r2 -0.5 -> -0.25 is a gain of 0.25, +50 % of |baseline|
    assert passed({"metric": "r2", "min_relative_change": 0.5}, -0.25, baseline=-0.5) is True
    assert passed({"metric": "r2", "min_relative_change": 0.0}, -0.75, baseline=-0.5) is False


@pytest.mark.parametrize("gate, value, expected", [
    ({"metric": "r2", "min_relative_change": 0.0}, 0.0, True),     # unchanged: 0 % >= 0 %
    ({"metric": "r2", "min_relative_change": 0.1}, 0.0, False),    # unchanged is not +10 %
    ({"metric": "r2", "min_relative_change": 0.1}, 0.25, True),    # any gain over 0 is unbounded
    ({"metric": "r2", "min_relative_change": -0.5}, -0.25, False),  # any loss from 0 is too much
    ({"metric": "mae", "min_relative_change": 0.0}, 0.25, False),   # lower is better: a rise from 0
])
def test_min_relative_change_with_a_baseline_of_zero(gate, value, expected):
    assert passed(gate, value, baseline=0.0) is expected


# --- no baseline -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["max_regression", "min_absolute_change", "min_relative_change"])
def test_baseline_bounds_are_skipped_without_a_baseline_and_say_so(kind):
    (r,) = check(Gate(metric="f1", **{kind: 0.0}), {"f1": 0.5}, None)
    assert r["passed"] is None
    assert r["reason"] == f"f1: no baseline to compare with; {kind} skipped"
    (r,) = check(Gate(metric="f1", **{kind: 0.0}), {"f1": 0.5}, {"f1": math.nan})
    assert r["passed"] is None


def test_check_all_blesses_only_when_no_bound_failed():
    gates = [Gate(metric="f1", threshold=0.5, max_regression=0.25), Gate(metric="rmse", threshold=1.0)]
    blessed, results = check_all(gates, {"f1": 0.5, "rmse": 1.0}, None)
    assert blessed is True
    assert [(r["metric"], r["kind"], r["passed"]) for r in results] == [
        ("f1", "threshold", True), ("f1", "max_regression", None), ("rmse", "threshold", True)]
    blessed, results = check_all(gates, {"f1": 0.5, "rmse": 1.0}, {"f1": 0.8125, "rmse": 1.0})
    assert blessed is False
    assert [r["passed"] for r in results] == [True, False, True]
