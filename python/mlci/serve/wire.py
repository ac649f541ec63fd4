"""The wire formats of /invocations, in one place: what is accepted, and the 400s for the rest.

Accepted request bodies (MLflow's scoring-server formats):

  Content-Type: application/json
    {"dataframe_split": {"columns": [...], "data": [[...], ...]}}   ("columns" optional: signature order)
    {"dataframe_records": [{"col": value, ...}, ...]}
    {"instances": [...]}   rows as objects or lists, or an object of columns -> lists
    {"inputs": ...}        same shapes as "instances"
    optional top-level "params": {"proba": true} asks for class probabilities
  Content-Type: text/csv   a header row naming the columns, then one row per line
  Content-Type: application/vnd.apache.parquet   a Parquet file (as MLflow accepts)

Response: {"predictions": [...]} and, when probabilities are asked for (``?proba=true`` or
``"params": {"proba": true}``), also "classes" and "probabilities" (one list per row, in the
order of "classes").

Every value is checked against the model signature's column roles (mlci.columns): every
column the model takes must be there (columns it does not take are ignored, as MLflow does, and
named in ``Request.ignored``); numeric columns take numbers or numeric text, and null, NaN or
an empty CSV cell as a missing value, never Infinity; datetime columns take ISO 8601 text or
seconds since 1970; boolean columns true/false (or 1/0, "true"/"false"); categorical columns
text, numbers or booleans (compared as text). Anything else raises ``BadRequest`` naming the
row, the column and the expected type; the HTTP layer answers it with 400. Nothing here
imports pandas: the result is plain rows in signature order, or, when the caller takes a float
array (``parse(..., array=True)``), possibly that array (see ``_numeric_json``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mlci import columns as contract

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
NUMERIC, BOOL, TEXT, DATE = "number", "boolean", "string", "datetime"
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
_KIND = {contract.NUMERIC: NUMERIC, contract.BOOLEAN: BOOL, contract.CATEGORICAL: TEXT, contract.DATETIME: DATE}
_EXPECTED = {NUMERIC: "a number", BOOL: "true or false", TEXT: "a string",
             DATE: "an ISO 8601 date/time or seconds since 1970"}
_SHOWN = 60
_PLAIN = frozenset((int, float, type(None)))  # JSON numbers and null: what a numeric column takes as is
_ZERO_ONE_LOOKED_AT = 64  # beyond this many values equal to 0 or 1, a type check over all values
_MANY_VALUES = 128  # from here numpy's own type finding beats a type check per value (1 row: it doesn't)


class BadRequest(ValueError):
    """The request does not match an accepted format or the model signature (HTTP 400)."""

    status = 400


class UnsupportedMediaType(BadRequest):
    status = 415


def column_kind(dtype: str) -> str:
    """number | boolean | string, from a signature dtype (pandas/numpy/MLflow spellings)."""
    d = str(dtype).lower()
    if d.startswith(("float", "int", "uint", "double", "long", "number")) or d in ("integer", "decimal"):
        return NUMERIC
    if d.startswith("bool"):
        return BOOL
    return TEXT


@dataclass
class Schema:
    """The input columns a model expects, from its signature."""

    names: list[str]
    kinds: list[str]
    dtypes: list[str]
    na: list[frozenset[str]] = field(default_factory=list)  # texts read as missing, per column
    index: dict[str, int] = field(init=False)
    integer: list[bool] = field(init=False)
    integer_positions: list[int] = field(init=False)
    plain_numbers: bool = field(init=False)  # every column numeric: JSON numbers and null go into a float array

    def __post_init__(self) -> None:
        self.index = {n: i for i, n in enumerate(self.names)}
        self.integer = [d.lower().startswith(("int", "uint", "long")) and k == NUMERIC
                        for d, k in zip(self.dtypes, self.kinds)]
        self.integer_positions = [j for j, integer in enumerate(self.integer) if integer]
        self.plain_numbers = all(k == NUMERIC for k in self.kinds)
        if not self.na:
            self.na = [frozenset()] * len(self.names)

    @classmethod
    def from_signature(cls, signature: dict[str, Any]) -> "Schema":
        from mlci.model.signature import missing_texts, roles

        inputs = signature.get("inputs") or []
        names = [str(c["name"]) for c in inputs]
        dtypes = [str(c.get("dtype", "float64")) for c in inputs]
        role = roles(signature)  # type: ignore[arg-type]
        missing = missing_texts(signature)  # type: ignore[arg-type]
        everywhere = frozenset(missing.get("*", ()))
        na = [everywhere | frozenset(missing.get(n, ())) for n in names]
        return cls(names, [_KIND.get(role[n], TEXT) for n in names], dtypes, na)

    @property
    def all_numeric(self) -> bool:
        """Every value arrives as a float (times as seconds since 1970): the fast path may take it."""
        return all(k in (NUMERIC, DATE) for k in self.kinds)

    def describe(self) -> str:
        return ", ".join(self.names[:20]) + (f", ... ({len(self.names)} columns)" if len(self.names) > 20 else "")


@dataclass
class Request:
    """A parsed /invocations request: rows in signature order, and the options asked for."""

    rows: list[list[Any]] | np.ndarray  # an array only when parse() was asked for one
    proba: bool = False
    ignored: list[str] = field(default_factory=list)  # columns the model does not take


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse(body: bytes, content_type: str | None, schema: Schema, query: dict[str, str] | None = None,
          array: bool = False) -> Request:
    """Parse and check one request body against ``schema``. Raises BadRequest.

    ``array``: the caller takes the rows as a float64 array (numeric models on the fast path);
    plain numeric JSON then becomes one without a Python value per cell."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    proba = _truthy(query.get("proba", "")) if query else False
    extra: set[str] = set()
    if media in ("application/json", "text/json", ""):
        fast = _numeric_json(body, schema, extra) if array and schema.plain_numbers else None
        rows, params = fast if fast is not None else _parse_json(body, schema, extra)
        if "proba" in params:
            proba = proba or _truthy(params["proba"])
    elif media in ("text/csv", "application/csv"):
        rows = _parse_csv(body, schema, extra)
    elif media in PARQUET:
        rows = _parse_parquet(body, schema, extra)
    else:
        raise UnsupportedMediaType(f"unsupported Content-Type {media!r}; expected application/json, "
                                   "text/csv or application/vnd.apache.parquet")
    if len(rows) == 0:
        raise BadRequest("the request has no rows; expected at least one")
    return Request(rows, proba, sorted(extra))


# --- JSON ------------------------------------------------------------------------------------

def _numeric_json(body: bytes, schema: Schema, extra: set[str]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The common request of a numeric model, fast: rows of JSON numbers or null, as
    ``dataframe_split`` or as lists in ``instances``/``inputs``, parsed by orjson and checked as
    a whole. Returns the float array in signature order (exactly the values the row-by-row path
    gives: null is NaN), or None for anything else, which then takes the row-by-row path
    (_parse_json) and gets its answers and its 400s. orjson refuses what Python's json reads
    differently (NaN, Infinity, lone surrogates) and reads integers past 64 bits as floats,
    which are the same float64 once in the array."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or not 1 <= len(doc) <= 2:
        return None
    params = doc.get("params", {})
    if type(params) is not dict or len(doc) != 1 + ("params" in doc):
        return None
    key = next(k for k in doc if k != "params")
    value = doc[key]
    if key == "dataframe_split":
        if type(value) is not dict or not {"columns", "data", "index"}.issuperset(value):
            return None
        data, columns = value.get("data"), value.get("columns")
        if columns is not None and columns != schema.names and (
                type(columns) is not list or set(map(type, columns)) != {str}):
            return None
    elif key in ("instances", "inputs"):
        data, columns = value, None
    else:
        return None
    width = len(schema.names) if columns is None else len(columns)
    if type(data) is not list or not data:
        return None
    X = _number_rows(data, width) if len(data) * width >= _MANY_VALUES else None
    if X is None:
        if set(map(type, data)) != {list} or set(map(len, data)) != {width}:
            return None
        if not _PLAIN.issuperset(set(map(type, itertools.chain.from_iterable(data)))):
            return None
        try:  # never an infinity: orjson refuses numbers past float64's range, numpy such integers
            X = np.array(data, dtype=np.float64)  # null -> NaN, as contract.number gives
        except (OverflowError, ValueError, TypeError):
            return None
    order = _column_order(columns, schema, "dataframe_split.columns", extra) if columns is not None else None
    if order is not None:
        X = X[:, order]
    ints = schema.integer_positions
    if ints:
        block = X[:, ints]
        if not (np.isnan(block) | (np.floor(block) == block)).all():
            return None
    return X, params


def _number_rows(data: list[Any], width: int) -> np.ndarray | None:
    """Rows that are all JSON numbers, as float64, without a Python type check per value:
    numpy's own conversion finds the type (text or null make it something other than numbers,
    ragged or nested rows another shape). It reads true and false as 1 and 0, so only values
    equal to 0 or 1 are looked at. None when this does not settle it (nulls, booleans, many
    0/1 values, anything else): the type check over every value decides."""
    try:
        X = np.array(data)
    except (ValueError, OverflowError):
        return None
    if X.dtype.kind not in "fiu" or X.shape != (len(data), width):
        return None
    zero_one = np.flatnonzero((X == 0) | (X == 1))
    if len(zero_one) > _ZERO_ONE_LOOKED_AT:
        return None
    if any(type(data[k // width][k % width]) is bool for k in zero_one.tolist()):
        return None
    return X.astype(np.float64, copy=False)


def _parse_json(body: bytes, schema: Schema, extra: set[str]) -> tuple[list[list[Any]], dict[str, Any]]:
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text; expected JSON") from None
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    expected = "a JSON object with one of " + ", ".join(FORMATS)
    if not isinstance(doc, dict):
        raise BadRequest(f"expected {expected}, got {_json_type(doc)}")
    keys = [k for k in doc if k in FORMATS]
    unknown = [k for k in doc if k not in FORMATS and k != "params"]
    if unknown:
        raise BadRequest(f"unknown key {unknown[0]!r}; expected {expected} (and optionally params)")
    if len(keys) != 1:
        found = f"got {', '.join(keys)}" if keys else "got none"
        raise BadRequest(f"expected exactly one of {', '.join(FORMATS)}; {found}")
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest(f"params: expected an object, got {_json_type(params)}")
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        rows = _split(value, schema, extra)
    elif key == "dataframe_records":
        if not isinstance(value, list):
            raise BadRequest(f"dataframe_records: expected a list of objects, got {_json_type(value)}")
        rows = _records(value, schema, key, extra)
    else:
        rows = _tensor_like(value, schema, key, extra)
    return rows, params


def _split(value: Any, schema: Schema, extra: set[str]) -> list[list[Any]]:
    where = "dataframe_split"
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected an object with columns and data, got {_json_type(value)}")
    unknown = [k for k in value if k not in ("columns", "data", "index")]
    if unknown:
        raise BadRequest(f"{where}: unknown key {unknown[0]!r}; expected columns, data (and optionally index)")
    if "data" not in value:
        raise BadRequest(f"{where}: missing key 'data' (a list of rows)")
    data = value["data"]
    if not isinstance(data, list):
        raise BadRequest(f"{where}.data: expected a list of rows, got {_json_type(data)}")
    columns = value.get("columns")
    if columns is None:
        return _lists(data, schema, f"{where}.data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadRequest(f"{where}.columns: expected a list of column names")
    order = _column_order(columns, schema, f"{where}.columns", extra)
    width = len(columns)
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise BadRequest(f"{where}.data[{i}]: expected a list of {width} values, got {_json_type(row)}")
        if len(row) != width:
            raise BadRequest(f"{where}.data[{i}]: expected {width} values (one per column), got {len(row)}")
        rows.append(_check_row([row[j] for j in order] if order else row, schema, f"{where}.data[{i}]"))
    return rows


def _column_order(columns: list[str], schema: Schema, where: str, extra: set[str]) -> list[int] | None:
    """Positions of the signature's columns in ``columns``; None when already in order."""
    if columns == schema.names:
        return None
    given = set(columns)
    if len(given) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise BadRequest(f"{where}: column {dup!r} appears more than once")
    _check_names(given, schema, where, extra)
    pos = {c: j for j, c in enumerate(columns)}
    return [pos[n] for n in schema.names]


def _check_names(given: set[str], schema: Schema, where: str, extra: set[str]) -> None:
    """Every column the model takes is there (else a 400); the others go into ``extra``."""
    missing = [n for n in schema.names if n not in given]
    unexpected = sorted(given.difference(schema.names))
    if missing:
        parts = [f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:10]))}"
                 + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")]
        if unexpected:  # likely a misspelling of a missing one
            parts.append(f"unexpected column{'s' if len(unexpected) > 1 else ''} "
                         f"{', '.join(map(repr, unexpected[:10]))}")
        raise BadRequest(f"{where}: {'; '.join(parts)}; the model expects: {schema.describe()}")
    extra.update(unexpected)


def _records(value: list[Any], schema: Schema, where: str, extra: set[str]) -> list[list[Any]]:
    rows = []
    names = schema.names
    expected_keys = set(names)
    for i, rec in enumerate(value):
        if not isinstance(rec, dict):
            raise BadRequest(f"{where}[{i}]: expected an object of column -> value, got {_json_type(rec)}")
        if len(rec) != len(names) or not expected_keys.issuperset(rec):
            _check_names(set(rec), schema, f"{where}[{i}]", extra)
        rows.append(_check_row([rec[n] for n in names], schema, f"{where}[{i}]"))
    return rows


def _lists(value: list[Any], schema: Schema, where: str) -> list[list[Any]]:
    width = len(schema.names)
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise BadRequest(f"{where}[{i}]: expected a list of {width} values, got {_json_type(row)}")
        if len(row) != width:
            raise BadRequest(f"{where}[{i}]: expected {width} values in signature order "
                             f"({schema.describe()}), got {len(row)}")
        rows.append(_check_row(row, schema, f"{where}[{i}]"))
    return rows


def _tensor_like(value: Any, schema: Schema, where: str, extra: set[str]) -> list[list[Any]]:
    """instances / inputs: a list of rows (objects or lists), or an object of columns -> lists."""
    if isinstance(value, dict):
        _check_names(set(value), schema, where, extra)
        cols = []
        length = None
        for n in schema.names:
            col = value[n]
            if not isinstance(col, list):
                col = [col]
            if length is None:
                length = len(col)
            elif len(col) != length:
                raise BadRequest(f"{where}.{n}: expected {length} values like the other columns, got {len(col)}")
            cols.append(col)
        return [_check_row(list(r), schema, f"{where} row {i}") for i, r in enumerate(zip(*cols))]
    if not isinstance(value, list):
        raise BadRequest(f"{where}: expected a list of rows or an object of columns, got {_json_type(value)}")
    if value and all(isinstance(r, dict) for r in value):
        return _records(value, schema, where, extra)
    if value and len(schema.names) == 1 and not isinstance(value[0], (list, dict)):
        return [_check_row([v], schema, f"{where}[{i}]") for i, v in enumerate(value)]
    if value and isinstance(value[0], dict):
        raise BadRequest(f"{where}: mixes objects and lists; expected rows of one kind")
    return _lists(value, schema, where)


def _check_row(row: list[Any], schema: Schema, where: str) -> list[Any]:
    """Each value as its column's role takes it (the common cases inline, for speed): numbers'
    missing values become NaN; anything that cannot be converted is a 400."""
    kinds = schema.kinds
    for j, v in enumerate(row):
        kind = kinds[j]
        t = type(v)
        if kind == NUMERIC:
            if t is int:
                continue
            if t is float and v - v == 0:  # finite
                if schema.integer[j] and not v.is_integer():
                    raise BadRequest(f"{where}: column {schema.names[j]!r} expected an integer, got {v!r}")
                continue
        elif kind == TEXT:
            if t is str or v is None:
                continue
        elif kind == BOOL:
            if t is bool or v is None:
                continue
        row[j] = _convert(v, j, schema, where)
    return row


def _convert(v: Any, j: int, schema: Schema, where: str) -> Any:
    """One value of column ``j`` that is not already in its plain form (mlci.columns)."""
    kind = schema.kinds[j]
    try:
        if isinstance(v, (list, dict)):
            raise ValueError(v)
        if kind == NUMERIC:
            if isinstance(v, bool):
                raise ValueError(v)
            x = contract.number(v, schema.na[j])
            if math.isinf(x):
                raise BadRequest(f"{where}: column {schema.names[j]!r} expected a finite number or null "
                                 f"(a missing value), got {_short(v)}")
            if schema.integer[j] and not math.isnan(x) and not x.is_integer():
                raise BadRequest(f"{where}: column {schema.names[j]!r} expected an integer, got {_short(v)}")
            return x
        if kind == DATE:
            x = contract.seconds(v, schema.na[j])
            if math.isinf(x):
                raise ValueError(v)
            return x
        if kind == BOOL:
            x = contract.boolean(v, schema.na[j])
            return None if math.isnan(x) else x == 1.0
        if isinstance(v, str) and (v.strip() == "" or v.strip() in schema.na[j]):
            return None
        return v  # a categorical number or boolean: compared as text by the model
    except BadRequest:
        raise
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(f"{where}: column {schema.names[j]!r} expected {_EXPECTED[kind]}, "
                         f"got {_json_type(v)} {_short(v)}") from None


# --- CSV -------------------------------------------------------------------------------------

def _parse_csv(body: bytes, schema: Schema, extra: set[str]) -> list[list[Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV body is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BadRequest("empty CSV body; expected a header row and at least one data row") from None
    except csv.Error as exc:
        raise BadRequest(f"malformed CSV: {exc}") from None
    header = [h.strip() for h in header]
    order = _column_order(header, schema, "CSV header", extra)
    width = len(header)
    rows = []
    try:
        for line_no, raw in enumerate(reader, start=2):
            if not raw:
                continue
            if len(raw) != width:
                raise BadRequest(f"CSV line {line_no}: expected {width} values (one per column), got {len(raw)}")
            values = [raw[j] for j in order] if order else raw
            rows.append(_convert_csv_row(values, schema, line_no))
    except csv.Error as exc:
        raise BadRequest(f"malformed CSV: {exc}") from None
    return rows


def _convert_csv_row(values: list[str], schema: Schema, line_no: int) -> list[Any]:
    """CSV cells are text: an empty cell is a missing value, the rest as _convert takes them."""
    where = f"CSV line {line_no}"
    out: list[Any] = []
    for j, s in enumerate(values):
        s = s.strip()
        if s == "":
            out.append(math.nan if schema.kinds[j] in (NUMERIC, DATE) else None)
        elif schema.kinds[j] == TEXT:
            out.append(None if s in schema.na[j] else s)
        else:
            out.append(_convert(s, j, schema, where))
    return out


# --- Parquet ------------------------------------------------------------------------------------

def _parse_parquet(body: bytes, schema: Schema, extra: set[str]) -> list[list[Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError) as exc:
        raise BadRequest(f"the body is not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    _check_names(set(table.column_names), schema, "Parquet columns", extra)
    cols = [table.column(n).to_pylist() for n in schema.names]
    return [_check_row(list(r), schema, f"Parquet row {i}") for i, r in enumerate(zip(*cols))]


# --- responses ---------------------------------------------------------------------------------

def predictions_body(predictions: list[Any], classes: list[Any] | None = None,
                     probabilities: list[list[float]] | None = None) -> bytes:
    """The answer, compact JSON (orjson: numpy scalars as numbers; NaN and infinities, which
    JSON has no words for, as null)."""
    doc: dict[str, Any] = {"predictions": predictions}
    if probabilities is not None:
        doc["classes"] = classes
        doc["probabilities"] = probabilities
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY, default=_json_default)


def error_body(message: str, code: str = "BAD_REQUEST") -> bytes:
    return json.dumps({"error_code": code, "message": message}).encode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
