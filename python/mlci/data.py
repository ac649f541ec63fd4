"""Reading tabular data (CSV, Parquet) with errors that name the file and the problem,
and selecting features and target as mlci.yaml says."""

from __future__ import annotations

import csv
import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config import Config

log = logging.getLogger(__name__)

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found ({what})")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a CSV or Parquet file ({what})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty ({what})")


def _duplicates(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]


def read_table(path: Path, what: str = "data") -> "pd.DataFrame":
    """Read a CSV or Parquet file into a DataFrame, or raise DataError with one clear line."""
    import pandas as pd

    _check_file(path, what)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        dup = _duplicates(table.column_names)
        if dup:
            raise DataError(f"{path}: duplicate column names: {', '.join(dup)}")
        nested = [f"`{f.name}` ({f.type})" for f in table.schema if pa.types.is_nested(f.type)]
        if nested:
            raise DataError(f"{path}: nested columns are not supported: {', '.join(nested)[:200]}; "
                            "flatten them into one column per value, or leave them out of the file")
        df = table.to_pandas()
    elif suffix in CSV_SUFFIXES:
        sep = "\t" if suffix == ".tsv" else ","
        try:
            with open(path, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f, delimiter=sep), [])
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        header = [h.strip() for h in header]
        if not any(header):
            raise DataError(f"{path}: no header row (the first line is empty)")
        dup = _duplicates(header)
        if dup:
            raise DataError(f"{path}: duplicate column names: {', '.join(dup)}")
        try:
            df = pd.read_csv(path, sep=sep, skipinitialspace=True)
        except pd.errors.ParserError as exc:
            detail = str(exc).strip().splitlines()[-1].split("C error: ")[-1]
            raise DataError(f"{path}: malformed CSV: {detail}") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: file is empty ({what})") from None
    else:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected .csv or .parquet")
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows ({what})")
    return df


def _did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def feature_columns(df: "pd.DataFrame", config: "Config", source: str) -> list[str]:
    target = config.data.target
    cols = [str(c) for c in df.columns]
    feats = config.data.features
    for key, names in (("include", feats.include or []), ("exclude", feats.exclude),
                       ("categorical", feats.categorical or []), ("numeric", feats.numeric or []),
                       ("datetime", feats.datetime or [])):
        for i, name in enumerate(names):
            if name not in cols:
                raise ConfigError(f"{config.path.name}: data.features.{key}[{i}]: column `{name}` "
                                  f"is not in {source}{_did_you_mean(name, cols)}")
    chosen = list(feats.include) if feats.include else [c for c in cols if c != target]
    chosen = [c for c in chosen if c not in set(feats.exclude) and c != target]
    if not chosen:
        raise ConfigError(f"{config.path.name}: data.features: no feature columns left in {source}")
    return chosen


def split_xy(df: "pd.DataFrame", config: "Config", source: str) -> tuple["pd.DataFrame", "pd.Series"]:
    """Features and target, checked: target present, not empty, usable for the task."""
    import pandas as pd

    target = config.data.target
    cols = [str(c) for c in df.columns]
    if target not in cols:
        raise DataError(f"{source}: target column `{target}` not found{_did_you_mean(target, cols)}; "
                        f"columns: {', '.join(cols[:20])}{' ...' if len(cols) > 20 else ''}")
    y = df[target]
    missing = int(y.isna().sum())
    if missing == len(y):
        raise DataError(f"{source}: target column `{target}` has no values (all missing)")
    if missing:
        log.warning("%s: dropping %d rows with a missing target", source, missing)
        df = df[y.notna()]
        y = df[target]
    if config.task == "classification":
        classes = y.unique()
        if len(classes) < 2:
            only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
            raise DataError(f"{source}: target column `{target}` has a single class ({only!r}); "
                            "classification needs at least two")
    else:
        if not pd.api.types.is_numeric_dtype(y):
            raise DataError(f"{source}: target column `{target}` is not numeric (dtype {y.dtype}); "
                            "regression needs numbers")
    features = feature_columns(df, config, source)
    return df[features], y


def dtype_name(series: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_float_dtype(series):
        return "float64"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"
