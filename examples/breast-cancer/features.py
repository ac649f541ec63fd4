"""Feature engineering for the breast-cancer example: ratio features of the cell measurements.

Column names are those of data/train.csv (scikit-learn's names with `_` for spaces).

A small, tested function the example's `checks:` (lint + unit tests) exercise, so the demo
pipeline shows the code-check stage. The model does not depend on it.
"""

from __future__ import annotations

import pandas as pd

# numerator, denominator, name of the new column
RATIOS = [
    ("mean_area", "mean_perimeter", "area_per_perimeter"),
    ("worst_radius", "mean_radius", "radius_growth"),
    ("mean_concave_points", "mean_concavity", "concave_points_per_concavity"),
]


def add_ratio_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with one column per ratio whose two inputs are present.

    A zero denominator gives NaN (not inf), so downstream imputers can handle it.
    """
    out = frame.copy()
    for numerator, denominator, name in RATIOS:
        if numerator in out.columns and denominator in out.columns:
            den = out[denominator].where(out[denominator] != 0)
            out[name] = out[numerator] / den
    return out
