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
    from mlci.sources import Source

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


def _parquet_table(src: Any, label: str) -> Any:
    """A Parquet file (a path or an open binary file) as an Arrow table, its columns checked."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # an open file is read on this thread (pre_buffer=False): Arrow's I/O threads calling back
        # into Python could still be running when the interpreter exits, which aborts it
        table = pq.read_table(src, pre_buffer=isinstance(src, (str, Path)))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{label}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    dup = _duplicates(table.column_names)
    if dup:
        raise DataError(f"{label}: duplicate column names: {', '.join(dup)}")
    nested = [f"`{f.name}` ({f.type})" for f in table.schema if pa.types.is_nested(f.type)]
    if nested:
        raise DataError(f"{label}: nested columns are not supported: {', '.join(nested)[:200]}; "
                        "flatten them into one column per value, or leave them out of the file")
    return table


def _csv_frame(src: Any, label: str, name: str, what: str) -> "pd.DataFrame":
    """A CSV file (a path or an open binary file; ``name`` gives the delimiter and compression)."""
    import io

    import pandas as pd

    suffixes = [s.lower() for s in Path(name).suffixes]
    compression = {".gz": "gzip", ".bz2": "bz2"}.get(suffixes[-1] if suffixes else "")
    sep = "\t" if ".tsv" in suffixes else ","
    try:
        if not hasattr(src, "read"):
            with open(src, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f, delimiter=sep), [])
        else:
            raw = src
            if compression == "gzip":
                import gzip
                raw = gzip.GzipFile(fileobj=src)
            elif compression == "bz2":
                import bz2
                raw = bz2.BZ2File(src)
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            header = next(csv.reader(text, delimiter=sep), [])
            text.detach()
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    if hasattr(src, "seek"):
        src.seek(0)
    header = [h.strip() for h in header]
    if not any(header):
        raise DataError(f"{label}: no header row (the first line is empty)")
    dup = _duplicates(header)
    if dup:
        raise DataError(f"{label}: duplicate column names: {', '.join(dup)}")
    try:
        return pd.read_csv(src, sep=sep, skipinitialspace=True, compression=compression)
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1].split("C error: ")[-1]
        raise DataError(f"{label}: malformed CSV: {detail}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: file is empty ({what})") from None


def read_table(path: Path, what: str = "data") -> "pd.DataFrame":
    """Read a CSV or Parquet file into a DataFrame, or raise DataError with one clear line."""
    _check_file(path, what)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        df = _parquet_table(path, str(path)).to_pandas()
    elif suffix in CSV_SUFFIXES:
        df = _csv_frame(path, str(path), path.name, what)
    else:
        raise DataError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected .csv or .parquet")
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows ({what})")
    return df


def _same_columns(source: "Source", columns: list[tuple[str, list[str]]]) -> None:
    """Every part of a source has the same columns, or one line naming two parts that differ."""
    first_name, first = columns[0]
    for name, cols in columns[1:]:
        if set(cols) != set(first):
            only_first = sorted(set(first) - set(cols))
            only_this = sorted(set(cols) - set(first))
            diff = "; ".join(x for x in (f"{first_name} has {', '.join(only_first)}" if only_first else "",
                                         f"{name} has {', '.join(only_this)}" if only_this else "") if x)
            raise DataError(f"{source.label}: mixed schemas across parts: {diff} ({source.what}); "
                            "every file of a source needs the same columns")


def unify_tables(source: "Source", tables: list[tuple[str, Any]]) -> Any:
    """The parts' Arrow tables as one: the same columns in every part (in the first part's order),
    types unified where Arrow widens them losslessly (null -> any, int32 -> int64), else one line
    naming the column and two parts."""
    import pyarrow as pa

    _same_columns(source, [(name, list(t.column_names)) for name, t in tables])
    order = tables[0][1].column_names
    tables = [(name, t.select(order)) for name, t in tables]
    try:
        schema = pa.unify_schemas([t.schema for _, t in tables], promote_options="permissive")
        return pa.concat_tables([t.cast(schema) for _, t in tables])
    except (pa.ArrowException, ValueError, TypeError):
        base_name, base = tables[0]
        for name, t in tables[1:]:
            for f in t.schema:
                other = base.schema.field(f.name).type
                if f.type != other and not (pa.types.is_null(f.type) or pa.types.is_null(other)):
                    raise DataError(f"{source.label}: mixed schemas across parts: column `{f.name}` is {other} "
                                    f"in {base_name} but {f.type} in {name} ({source.what})") from None
        raise


def with_partitions(table: Any, values: dict[str, Any], label: str) -> Any:
    """An Arrow table or batch with the hive partition columns added (constant per part)."""
    import pyarrow as pa

    for column, value in values.items():
        if column in table.schema.names:
            raise DataError(f"{label}: column `{column}` is both in the file and a partition folder")
        kind = pa.int64() if isinstance(value, int) else pa.float64() if isinstance(value, float) else pa.string()
        table = table.append_column(pa.field(column, kind), pa.array([value] * table.num_rows, type=kind))
    return table


def read_source(source: "Source") -> "pd.DataFrame":
    """A data source (sources.Source: a file, a directory or glob of files, objects in S3) as one
    DataFrame, with hive partition columns; one clear line for anything wrong."""
    single = source.single_file
    if single is not None:
        return read_table(single, source.what)
    import pandas as pd

    from mlci.sources import iter_parts

    partitions = source.partition_values()
    if source.format == "parquet":
        tables = [(part.name, with_partitions(_parquet_table(fh, source.display(part)),
                                              partitions.get(part.name, {}), source.display(part)))
                  for part, fh in iter_parts(source)]
        df = unify_tables(source, tables).to_pandas()
    else:
        frames = []
        for part, fh in iter_parts(source):
            frame = _csv_frame(fh, source.display(part), part.name, source.what)
            for column, value in partitions.get(part.name, {}).items():
                if column in frame.columns:
                    raise DataError(f"{source.display(part)}: column `{column}` is both in the file "
                                    "and a partition folder")
                frame[column] = value
            frames.append((part.name, frame))
        _same_columns(source, [(name, [str(c) for c in f.columns]) for name, f in frames])
        order = list(frames[0][1].columns)
        df = pd.concat([f[order] for _, f in frames], ignore_index=True)
    if len(df) == 0:
        raise DataError(f"{source.label}: has columns but no rows ({source.what})")
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
