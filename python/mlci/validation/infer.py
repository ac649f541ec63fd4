"""`mlci schema infer`: a readable starting rules file from a data sample.

Defaults (docs/validation.md), chosen so a fresh sample from the same source passes:
- dtype: the column's type; required: true; `columns: strict`; `min_rows: 1`.
- nulls: none seen -> `nullable: false`; otherwise `max_null_fraction` = observed share
  + half of it + 0.01 (capped at 1).
- numeric ranges: observed min/max widened by the larger of ``margin`` (default 10%) of the
  observed range and twice the gap between the extreme and the 1st/99th percentile (heavy
  tails get more room); a column never negative keeps `min` at or above 0; int columns get
  whole-number bounds.
- NaN / inf: allowed only if present.
- categorical domain (`allowed`): string/bool columns with at most ``max_categories`` (20)
  distinct values, each seen at least 5 times (so the domain is probably complete).
- unique: int or string columns with all values distinct and at least 100 values; such an
  int column is an identifier, so it gets no `max` (new data brings larger ids).
- regex: a string column whose every value matches one well-known pattern (email, uuid,
  ISO date, digits only, upper-case code).
- text that is mostly numbers with a few placeholders (`?`, `-`; mlci.columns decides, as
  training does) is logged as a warning naming the column and the placeholders: list them in
  data.na_values and infer again to get a numeric column.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)

from mlci.validation.schema import ColumnSchema, Schema, TableSchema

PATTERNS = [
    ("email", r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    ("uuid", r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    ("iso date", r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"),
    ("digits", r"^\d+$"),
    ("code", r"^[A-Z][A-Z0-9_-]{0,15}$"),
]


def infer_schema(table: Any, *, margin: float = 0.1, max_categories: int = 20) -> Schema:
    import numpy as np
    import pyarrow.compute as pc

    from mlci.validation.drift import numeric_values
    from mlci.validation.rules import type_name

    columns: dict[str, ColumnSchema] = {}
    n_rows = table.num_rows
    for field in table.schema:
        name = field.name
        col = table.column(name)
        dtype = type_name(field.type)
        spec: dict[str, Any] = {"dtype": dtype if dtype in ("int", "float", "bool", "string", "datetime") else "any"}
        nulls = col.null_count
        if dtype == "null" or (n_rows and nulls == n_rows):
            spec = {"dtype": "any", "max_null_fraction": 1.0}
            columns[name] = ColumnSchema(**spec)
            continue
        if nulls == 0:
            spec["nullable"] = False
        else:
            share = nulls / n_rows
            spec["max_null_fraction"] = min(1.0, math.ceil((share * 1.5 + 0.01) * 1000) / 1000)
        count = len(col) - nulls
        if dtype in ("int", "float"):
            x = numeric_values(col)
            finite = np.isfinite(x)
            if np.isnan(x).any():
                spec["allow_nan"] = True
            if np.isinf(x).any():
                spec["allow_inf"] = True
            x = x[finite]
            if len(x):
                lo, hi = float(x.min()), float(x.max())
                p1, p99 = (float(v) for v in np.quantile(x, [0.01, 0.99]))
                span = hi - lo
                lo_w = max(margin * span, 2 * (p1 - lo))
                hi_w = max(margin * span, 2 * (hi - p99))
                new_lo, new_hi = lo - lo_w, hi + hi_w
                if lo >= 0:
                    new_lo = max(0.0, new_lo)
                if dtype == "int":
                    new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
                else:
                    new_lo, new_hi = _round_out(new_lo, "down"), _round_out(new_hi, "up")
                spec["min"], spec["max"] = new_lo, new_hi
        if dtype == "string" and count:
            from mlci.columns import placeholders_in

            found = placeholders_in(col.to_pandas())
            if found:
                log.warning("column `%s` is numbers with the text %s (placeholders for a missing value?): "
                            "list them in mlci.yaml's data.na_values to read them as missing values",
                            name, ", ".join(map(repr, found)))
        if dtype in ("string", "bool") and count:
            vc = pc.value_counts(pc.drop_null(col))
            counts = vc.field("counts").to_pylist()
            if len(counts) <= max_categories and min(counts) >= 5 and len(counts) < count:
                values = vc.field("values").to_pylist()
                spec["allowed"] = sorted(values, key=str) if dtype == "string" else sorted(values)
        if dtype in ("int", "string") and count >= 100 and "allowed" not in spec:
            if pc.count_distinct(col).as_py() == count:
                spec["unique"] = True
                if dtype == "int":  # an identifier: new data brings new (larger) ids
                    spec.pop("max", None)
        if dtype == "string" and count and "allowed" not in spec:
            for _, pattern in PATTERNS:
                if pc.all(pc.match_substring_regex(pc.drop_null(col), pattern=pattern)).as_py():
                    spec["regex"] = pattern
                    break
        columns[name] = ColumnSchema(**spec)
    return Schema(columns=columns, table=TableSchema(min_rows=1, columns="strict"))


def apply_na_values(table: Any, na_values: list[str]) -> Any:
    """data.na_values in an Arrow table: those texts become nulls, and text columns that are
    then all numbers become float64 (as training reads them, mlci.columns.apply_na_values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not na_values:
        return table
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        col = table.column(i)
        col = pc.if_else(pc.is_in(pc.utf8_trim_whitespace(col), value_set=pa.array(na_values, col.type)),
                         pa.scalar(None, col.type), col)
        try:
            col = pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        table = table.set_column(i, field.name, col)
    return table


def _round_out(value: float, direction: str) -> float:
    """Round to 4 significant digits away from the data (keeps the YAML readable)."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(abs(value))) - 3)
    fn = math.floor if direction == "down" else math.ceil
    return fn(value / scale) * scale if scale >= 1 else round(fn(value / scale) * scale, 12)
