"""The column-type contract: each column's role, decided once from the training data and
mlci.yaml, recorded in the model signature, and used by training's preprocessing, the server,
`schema infer` and drift.

Roles (docs/configuration.md):
  numeric      numbers; text that is mostly numbers has its placeholders (`?`, `NA`, `-`)
               read as missing values, with a warning naming them
  categorical  one-hot encoded; every value compared as text (1 and "1" are one category),
               every missing value (null, empty cell, NaN, None) is the one missing category
  boolean      true/false, used as 1/0
  datetime     dates and timestamps, used as seconds since 1970-01-01 UTC; naive times are
               read as UTC, times with an offset are converted to UTC
  (not a feature) excluded in data.features, or text with a distinct value in every row
               (identifiers, free text), which is dropped with a warning

The automatic choice follows the column's values; data.features.numeric / categorical /
datetime name single columns whose role is set instead, and the rest keep the automatic one.
The value conversions below are plain Python (the server's request path uses them without
pandas); ``decide`` takes a pandas DataFrame.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from mlci.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

NUMERIC, CATEGORICAL, BOOLEAN, DATETIME = "numeric", "categorical", "boolean", "datetime"
ROLES = (NUMERIC, CATEGORICAL, BOOLEAN, DATETIME)
OVERRIDES = (NUMERIC, CATEGORICAL, DATETIME)  # data.features.<role>: [columns]

# Mostly-numeric text: at least this share of the values are numbers, and the rest are a few
# short distinct texts (placeholders for a missing value).
MOSTLY_NUMERIC = 0.8
MAX_PLACEHOLDERS = 5
MAX_PLACEHOLDER_LEN = 12
# Text with a distinct value in every one of at least this many rows is an identifier or free text.
IDENTIFIER_ROWS = 100

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Decision:
    """The roles of a training frame's columns (in column order) and what was noticed."""

    roles: dict[str, str]
    placeholders: dict[str, list[str]] = field(default_factory=dict)  # numeric column -> missing texts
    dropped: list[str] = field(default_factory=list)  # identifiers / free text
    warnings: list[str] = field(default_factory=list)


# --- values (no pandas) -------------------------------------------------------------------------

def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA are all the same missing value."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    try:
        return bool(value != value) or type(value).__name__ in ("NAType", "NaTType")
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (np.bool_ is not a bool, np.int64 not an int)."""
    if type(value).__module__ != "numpy" or not hasattr(value, "item"):
        return value
    if type(value).__name__ == "datetime64":  # .item() of nanoseconds is an int, not a time
        return value.astype("datetime64[us]").item()
    return value.item()


def category_text(value: Any) -> Any:
    """A category as text (NaN when missing): 1, 1.0 and "1" are one category."""
    value = _plain(value)
    if is_missing(value):
        return math.nan
    if isinstance(value, str):
        return value if value.strip() else math.nan  # an empty text is an empty CSV cell: missing
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def number(value: Any, na: Iterable[str] = ()) -> float:
    """A number from a number or numeric text; NaN when missing or a placeholder. ValueError
    for anything else (the caller names the column and row)."""
    value = _plain(value)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if is_missing(value):
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text in na:
            return math.nan
        return float(text)
    return float(value)


def boolean(value: Any, na: Iterable[str] = ()) -> float:
    """1.0 / 0.0 / NaN from true/false, 1/0 or their text."""
    value = _plain(value)
    if is_missing(value):
        return math.nan
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "t", "y"):
            return 1.0
        if text in ("false", "0", "no", "f", "n"):
            return 0.0
        if text == "" or value.strip() in na:
            return math.nan
        raise ValueError(value)
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return float(value)
    raise ValueError(value)


def seconds(value: Any, na: Iterable[str] = ()) -> float:
    """Seconds since 1970-01-01 UTC from a number (taken as such), ISO 8601 text or a
    datetime; naive times are UTC. NaN when missing; ValueError otherwise."""
    value = _plain(value)
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if is_missing(value):
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text in na:
            return math.nan
        if not ISO_DATE.match(text):
            return float(text)  # epoch seconds as text, else ValueError
        value = datetime.fromisoformat(text.replace(" Z", "Z"))
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return (value - _EPOCH).total_seconds()
    if hasattr(value, "isoformat"):  # a date
        return seconds(value.isoformat())
    raise ValueError(value)


# --- frames -------------------------------------------------------------------------------------

def _text_values(col: "pd.Series") -> "pd.Series":
    return col.dropna().astype(str).str.strip()


def placeholders_in(col: "pd.Series") -> list[str] | None:
    """The placeholder texts of mostly-numeric text (e.g. ['?']); None when it is not that."""
    import pandas as pd

    text = _text_values(col)
    if text.empty:
        return None
    as_number = pd.to_numeric(text, errors="coerce")
    bad = text[as_number.isna()]
    if bad.empty or len(bad) > (1 - MOSTLY_NUMERIC) * len(text):
        return None
    values = sorted(set(bad))
    if len(values) > MAX_PLACEHOLDERS or any(len(v) > MAX_PLACEHOLDER_LEN for v in values):
        return None
    return values


def looks_like_dates(col: "pd.Series") -> bool:
    text = _text_values(col)
    return bool(len(text)) and bool(text.str.match(ISO_DATE).all())


def auto_role(col: "pd.Series") -> str:
    """The role a column gets when mlci.yaml does not say (placeholders aside)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(col):
        return BOOLEAN
    if pd.api.types.is_numeric_dtype(col):
        return NUMERIC
    if pd.api.types.is_datetime64_any_dtype(col):
        return DATETIME
    values = col.dropna()
    if len(values) and all(isinstance(v, (bool,)) or type(v).__name__ == "bool_" for v in values):
        return BOOLEAN
    if len(values) and all(hasattr(v, "isoformat") for v in values):  # date / datetime objects
        return DATETIME
    if looks_like_dates(col):
        return DATETIME
    if placeholders_in(col) is not None:
        return NUMERIC
    return CATEGORICAL


def overrides(features: Any) -> dict[str, str]:
    """{column: role} from data.features.numeric / categorical / datetime; a column in two
    lists is a ConfigError."""
    out: dict[str, str] = {}
    for role in OVERRIDES:
        for name in getattr(features, role, None) or []:
            if name in out and out[name] != role:
                raise ConfigError(f"data.features: column `{name}` is listed as both {out[name]} and {role}")
            out[name] = role
    return out


def decide(X: "pd.DataFrame", features: Any = None, na_values: Iterable[str] = (),
           source: str = "the training data") -> Decision:
    """The role of every column of the feature frame ``X`` (see the module doc)."""
    chosen = overrides(features) if features is not None else {}
    na = set(na_values)
    decision = Decision(roles={})
    for name in X.columns:
        col = X[name]
        role = chosen.get(name) or auto_role(col)
        if name not in chosen and role == CATEGORICAL and _identifier(col):
            decision.dropped.append(name)
            decision.warnings.append(
                f"{source}: column `{name}` has a different text in each of its {len(col)} rows (an identifier "
                "or free text); it is not used as a feature (list it in data.features.categorical to use it)")
            continue
        if role == NUMERIC and not _is_number_dtype(col):
            found = [v for v in (placeholders_in(col) or []) if v not in na]
            if name in chosen:
                found = _not_numbers(col, na, name, source)
            if found:
                decision.placeholders[name] = found
                decision.warnings.append(
                    f"{source}: column `{name}` is numbers with the text {', '.join(map(repr, found))} in "
                    f"{int(_text_values(col).isin(found).sum())} rows, read as missing values "
                    f"(list them in data.na_values to say so)")
        if role == DATETIME and not _is_datetime_dtype(col):
            bad = _not_dates(col, na)
            if bad:
                raise DataError(f"{source}: column `{name}` is read as dates, but {bad!r} is not an ISO 8601 "
                                "date or time (nor seconds since 1970)")
        decision.roles[name] = role
    for warning in decision.warnings:
        log.warning("%s", warning)
    return decision


def _is_number_dtype(col: "pd.Series") -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(col)


def _is_datetime_dtype(col: "pd.Series") -> bool:
    import pandas as pd

    return pd.api.types.is_datetime64_any_dtype(col)


def _identifier(col: "pd.Series") -> bool:
    values = col.dropna()
    return len(values) >= IDENTIFIER_ROWS and len(values) == len(col) and values.nunique() == len(values)


def _not_numbers(col: "pd.Series", na: set[str], name: str, source: str) -> list[str]:
    """An override to numeric: the texts that are not numbers, if they are few placeholders."""
    import pandas as pd

    text = _text_values(col)
    bad = sorted(set(text[pd.to_numeric(text, errors="coerce").isna()]) - na - {""})
    if len(bad) > MAX_PLACEHOLDERS:
        raise DataError(f"{source}: column `{name}` is listed in data.features.numeric, but has text values "
                        f"such as {', '.join(map(repr, bad[:5]))}")
    return bad


def _not_dates(col: "pd.Series", na: set[str]) -> Any:
    for value in col.dropna().unique():
        try:
            seconds(value, na)
        except (ValueError, TypeError, OverflowError):
            return value
    return None


def apply_na_values(df: "pd.DataFrame", na_values: Iterable[str]) -> "pd.DataFrame":
    """data.na_values: these texts become missing values in every column, and text columns
    that are then all numbers become numeric."""
    import pandas as pd

    na = [v for v in na_values]
    if not na:
        return df
    df = df.copy()
    for name in df.columns:
        col = df[name]
        if col.dtype != object and not pd.api.types.is_string_dtype(col):
            continue
        stripped = col.where(col.isna(), col.astype(str).str.strip())
        cleaned = col.mask(stripped.isin(na))
        numbers = pd.to_numeric(cleaned, errors="coerce")
        if numbers.notna().sum() == cleaned.notna().sum() and cleaned.notna().any():
            cleaned = numbers
        df[name] = cleaned
    return df


def to_seconds_series(col: "pd.Series", na: Iterable[str] = ()) -> "pd.Series":
    """A datetime column (datetime64, ISO text or numbers) as float seconds since 1970 UTC."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
        out = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return out.astype("float64")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    na = set(na)
    return pd.Series(np.fromiter((seconds(v, na) for v in col), dtype=np.float64, count=len(col)),
                     index=col.index, name=col.name)


def typed_frame(X: "pd.DataFrame", roles: dict[str, str], na: dict[str, list[str]] | None = None) -> "pd.DataFrame":
    """The frame with each column in its role's type, for statistics: datetimes as UTC
    timestamps, numeric text (placeholders missing) as numbers; other columns unchanged."""
    import pandas as pd

    na = na or {}
    out = X.copy()
    for name, role in roles.items():
        if name not in out.columns:
            continue
        missing = set(na.get(name, ())) | set(na.get("*", ()))
        if role == DATETIME:
            out[name] = pd.to_datetime(to_seconds_series(out[name], missing), unit="s", utc=True)
        elif role == NUMERIC and not _is_number_dtype(out[name]):
            out[name] = out[name].map(lambda v: number(v, missing)).astype("float64")
    return out
