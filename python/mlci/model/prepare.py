"""The first step of every scikit-learn model mlci trains: the column-type contract
(mlci.columns) applied to a frame, so the saved pipeline gives the same answer for the same
row however it arrives (a training frame, a CSV cell, a JSON value, alone or in a batch).

``ColumnTypes`` keeps the frame's columns and order and makes each column's values what its
role says: numeric, boolean and datetime columns become float64 (datetimes as seconds since
1970 UTC, booleans as 1/0, placeholders and every kind of missing value as NaN); categorical
columns become text with NaN for every missing value. It learns nothing from the data.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from mlci import columns


class ColumnTypes(TransformerMixin, BaseEstimator):
    def __init__(self, roles: dict[str, str] | None = None, na_values: dict[str, list[str]] | None = None):
        self.roles = roles
        self.na_values = na_values

    def fit(self, X: Any, y: Any = None) -> "ColumnTypes":
        import numpy as np

        names = list(getattr(X, "columns", None) if hasattr(X, "columns") else (self.roles or {}))
        self.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)
        self.n_features_in_ = len(names)
        return self

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """The same columns (so a Pipeline's feature names, and the report's importance, go through)."""
        import numpy as np

        names = input_features if input_features is not None else getattr(self, "feature_names_in_", None)
        return np.asarray(list(names if names is not None else (self.roles or {})), dtype=object)

    def numeric_only(self) -> bool:
        """Every column is a number (or a time, which the server's wire parser has already made
        seconds): a float array passes through unchanged (the server's fast path)."""
        return all(r in (columns.NUMERIC, columns.DATETIME) for r in (self.roles or {}).values())

    def transform(self, X: Any) -> Any:
        import numpy as np
        import pandas as pd

        if not isinstance(X, pd.DataFrame):
            if self.numeric_only():
                return np.asarray(X, dtype=np.float64)
            X = pd.DataFrame(X, columns=list(self.roles or {}))
        X = X.copy()
        na_all = self.na_values or {}
        for name, role in (self.roles or {}).items():
            if name not in X.columns:
                continue
            col = X[name]
            na = set(na_all.get(name, ())) | set(na_all.get("*", ()))
            try:
                if role == columns.NUMERIC:
                    X[name] = _numbers(col, na)
                elif role == columns.DATETIME:
                    X[name] = columns.to_seconds_series(col, na)
                elif role == columns.BOOLEAN:
                    X[name] = col.map(lambda v: columns.boolean(v, na)).astype("float64")
                else:
                    X[name] = col.map(columns.category_text).astype(object)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"column {name!r} ({role}): cannot use value {str(exc)[:60]}") from None
        return X


def _numbers(col: Any, na: set[str]) -> Any:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    return col.map(lambda v: columns.number(v, na)).astype("float64")
