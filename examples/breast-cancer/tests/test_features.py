"""Unit tests of the example's feature engineering (run by the `unit` check)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import add_ratio_features  # noqa: E402


def test_adds_ratio_columns():
    frame = pd.DataFrame({"mean_area": [100.0, 50.0], "mean_perimeter": [20.0, 10.0]})
    out = add_ratio_features(frame)
    assert list(out["area_per_perimeter"]) == [5.0, 5.0]


def test_keeps_the_input_unchanged_and_skips_absent_columns():
    frame = pd.DataFrame({"mean_radius": [2.0]})
    out = add_ratio_features(frame)
    assert list(out.columns) == ["mean_radius"]
    assert list(frame.columns) == ["mean_radius"]


def test_zero_denominator_gives_nan_not_inf():
    frame = pd.DataFrame({"worst_radius": [3.0], "mean_radius": [0.0]})
    out = add_ratio_features(frame)
    assert math.isnan(out["radius_growth"].iloc[0])


def test_works_on_the_real_dataset_columns():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    data.columns = [c.replace(" ", "_") for c in data.columns]  # as examples/make_data.py writes them
    out = add_ratio_features(data)
    assert {"area_per_perimeter", "radius_growth", "concave_points_per_concavity"} <= set(out.columns)
    assert len(out) == len(data)
