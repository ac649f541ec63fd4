"""The wire formats of /invocations, in one place: what is accepted, and the 400s for the rest.

Accepted request bodies (MLflow's scoring-server formats):

  Content-Type: application/json
    {"dataframe_split": {"columns": [...], "data": [[...], ...]}}   ("columns" optional: signature order)
    {"dataframe_records": [{"col": value, ...}, ...]}
    {"instances": [...]}   rows as objects or lists, or an object of columns -> lists
    {"inputs": ...}        same shapes as "instances"
    optional top-level "params": {"proba": true} asks for class probabilities
  Content-Type: text/csv   a header row naming the columns, then one row per line

Response: {"predictions": [...]} and, when probabilities are asked for (``?proba=true`` or
``"params": {"proba": true}``), also "classes" and "probabilities" (one list per row, in the
order of "classes").

Every value is checked against the model signature: the column set must match exactly, each
row must have one value per column, numbers where the signature says numbers. Anything else
raises ``BadRequest`` with a message naming what was wrong and what was expected; the HTTP layer
answers it with 400. Nothing here imports pandas: the result is plain rows in signature order.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
NUMERIC, BOOL, TEXT = "number", "boolean", "string"
_SHOWN = 60


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
    index: dict[str, int] = field(init=False)
    integer: list[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {n: i for i, n in enumerate(self.names)}
        self.integer = [d.lower().startswith(("int", "uint", "long")) for d in self.dtypes]

    @classmethod
    def from_signature(cls, signature: dict[str, Any]) -> "Schema":
        inputs = signature.get("inputs") or []
        names = [str(c["name"]) for c in inputs]
        dtypes = [str(c.get("dtype", "float64")) for c in inputs]
        return cls(names, [column_kind(d) for d in dtypes], dtypes)

    @property
    def all_numeric(self) -> bool:
        return all(k == NUMERIC for k in self.kinds)

    def describe(self) -> str:
        return ", ".join(self.names[:20]) + (f", ... ({len(self.names)} columns)" if len(self.names) > 20 else "")


@dataclass
class Request:
    """A parsed /invocations request: rows in signature order, and the options asked for."""

    rows: list[list[Any]]
    proba: bool = False


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


def parse(body: bytes, content_type: str | None, schema: Schema, query: dict[str, str] | None = None) -> Request:
    """Parse and check one request body against ``schema``. Raises BadRequest."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    proba = _truthy(query.get("proba", "")) if query else False
    if media in ("application/json", "text/json", ""):
        rows, params = _parse_json(body, schema)
        if "proba" in params:
            proba = proba or _truthy(params["proba"])
    elif media in ("text/csv", "application/csv"):
        rows = _parse_csv(body, schema)
    else:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media!r}; expected application/json or text/csv")
    if not rows:
        raise BadRequest("the request has no rows; expected at least one")
    return Request(rows, proba)


# --- JSON ------------------------------------------------------------------------------------

def _parse_json(body: bytes, schema: Schema) -> tuple[list[list[Any]], dict[str, Any]]:
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
        rows = _split(value, schema)
    elif key == "dataframe_records":
        if not isinstance(value, list):
            raise BadRequest(f"dataframe_records: expected a list of objects, got {_json_type(value)}")
        rows = _records(value, schema, key)
    else:
        rows = _tensor_like(value, schema, key)
    return rows, params


def _split(value: Any, schema: Schema) -> list[list[Any]]:
    where = "dataframe_split"
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected an object with columns and data, got {_json_type(value)}")
    extra = [k for k in value if k not in ("columns", "data", "index")]
    if extra:
        raise BadRequest(f"{where}: unknown key {extra[0]!r}; expected columns, data (and optionally index)")
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
    order = _column_order(columns, schema, f"{where}.columns")
    width = len(columns)
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise BadRequest(f"{where}.data[{i}]: expected a list of {width} values, got {_json_type(row)}")
        if len(row) != width:
            raise BadRequest(f"{where}.data[{i}]: expected {width} values (one per column), got {len(row)}")
        rows.append(_check_row([row[j] for j in order] if order else row, schema, f"{where}.data[{i}]"))
    return rows


def _column_order(columns: list[str], schema: Schema, where: str) -> list[int] | None:
    """Positions of the signature's columns in ``columns``; None when already in order."""
    if columns == schema.names:
        return None
    given = set(columns)
    if len(given) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise BadRequest(f"{where}: column {dup!r} appears more than once")
    _check_names(given, schema, where)
    pos = {c: j for j, c in enumerate(columns)}
    return [pos[n] for n in schema.names]


def _check_names(given: set[str], schema: Schema, where: str) -> None:
    missing = [n for n in schema.names if n not in given]
    unexpected = sorted(given - set(schema.names))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing[:10]))}"
                         + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""))
        if unexpected:
            parts.append(f"unexpected column{'s' if len(unexpected) > 1 else ''} "
                         f"{', '.join(map(repr, unexpected[:10]))}")
        raise BadRequest(f"{where}: {'; '.join(parts)}; the model expects: {schema.describe()}")


def _records(value: list[Any], schema: Schema, where: str) -> list[list[Any]]:
    rows = []
    names = schema.names
    expected_keys = set(names)
    for i, rec in enumerate(value):
        if not isinstance(rec, dict):
            raise BadRequest(f"{where}[{i}]: expected an object of column -> value, got {_json_type(rec)}")
        if len(rec) != len(names) or not expected_keys.issuperset(rec):
            _check_names(set(rec), schema, f"{where}[{i}]")
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


def _tensor_like(value: Any, schema: Schema, where: str) -> list[list[Any]]:
    """instances / inputs: a list of rows (objects or lists), or an object of columns -> lists."""
    if isinstance(value, dict):
        _check_names(set(value), schema, where)
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
        return _records(value, schema, where)
    if value and len(schema.names) == 1 and not isinstance(value[0], (list, dict)):
        return [_check_row([v], schema, f"{where}[{i}]") for i, v in enumerate(value)]
    if value and isinstance(value[0], dict):
        raise BadRequest(f"{where}: mixes objects and lists; expected rows of one kind")
    return _lists(value, schema, where)


def _check_row(row: list[Any], schema: Schema, where: str) -> list[Any]:
    """Check each value against its column's kind; numbers' nulls become NaN."""
    kinds = schema.kinds
    for j, v in enumerate(row):
        kind = kinds[j]
        t = type(v)
        if kind == NUMERIC:
            if t is int:
                continue
            if t is float:
                if schema.integer[j] and not v.is_integer() and not math.isnan(v):
                    raise BadRequest(f"{where}: column {schema.names[j]!r} expected an integer, got {v!r}")
                continue
            if v is None:
                row[j] = math.nan
                continue
        elif kind == BOOL:
            if t is bool or v is None:
                continue
        elif t is str or v is None:
            continue
        expected = {NUMERIC: "a number", BOOL: "true or false", TEXT: "a string"}[kind]
        raise BadRequest(f"{where}: column {schema.names[j]!r} expected {expected}, "
                         f"got {_json_type(v)} {_short(v)}")
    return row


# --- CSV -------------------------------------------------------------------------------------

def _parse_csv(body: bytes, schema: Schema) -> list[list[Any]]:
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
    order = _column_order(header, schema, "CSV header")
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
    out: list[Any] = []
    for j, s in enumerate(values):
        kind = schema.kinds[j]
        s = s.strip()
        if kind == NUMERIC:
            if s == "":
                out.append(math.nan)
                continue
            try:
                value = float(s)
                if schema.integer[j] and not value.is_integer() and not math.isnan(value):
                    raise ValueError
                out.append(value)
            except ValueError:
                expected = "an integer" if schema.integer[j] else "a number"
                raise BadRequest(f"CSV line {line_no}: column {schema.names[j]!r} expected {expected}, "
                                 f"got {_short(s)}") from None
        elif kind == BOOL:
            low = s.lower()
            if low in ("true", "1"):
                out.append(True)
            elif low in ("false", "0"):
                out.append(False)
            elif low == "":
                out.append(None)
            else:
                raise BadRequest(f"CSV line {line_no}: column {schema.names[j]!r} expected true or false, "
                                 f"got {_short(s)}")
        else:
            out.append(s if s != "" else None)
    return out


# --- responses ---------------------------------------------------------------------------------

def predictions_body(predictions: list[Any], classes: list[Any] | None = None,
                     probabilities: list[list[float]] | None = None) -> bytes:
    doc: dict[str, Any] = {"predictions": predictions}
    if probabilities is not None:
        doc["classes"] = classes
        doc["probabilities"] = probabilities
    return json.dumps(doc, allow_nan=False, default=_json_default).encode()


def error_body(message: str, code: str = "BAD_REQUEST") -> bytes:
    return json.dumps({"error_code": code, "message": message}).encode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
