"""The rule engine: each rule sees the data one Arrow batch at a time.

A rule keeps only counters and the first ``sample`` failing row indices, so memory does
not grow with the data, except for ``unique`` and ``no_duplicate_rows``, which need a 64-bit
key per row: numeric values are compared exactly (their 64-bit patterns); strings and
whole rows by a 64-bit hash (pandas' SipHash), where a false "duplicate" needs a hash
collision (probability below n^2 / 2^65, about 1e-7 at 2 million rows). The keys are the
same in one batch or many, so ``--chunk-rows`` does not change the result; with it, the keys
beyond a budget go to disk (duplicates.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from mlci.validation.schema import Schema


class RuleEntry(TypedDict):
    """One rule's result in validation.json (``datasets[].rules[]``; the flat ``rules[]`` adds
    ``dataset``)."""

    id: str                  # "<column>.<rule>" or "table.<rule>"
    rule: str                # min, max, allowed, unique, expression, ...
    column: str | None
    severity: Literal["error", "warn"]
    status: Literal["passed", "failed", "skipped"]
    passed: bool             # status != "failed"
    expected: Any
    observed: Any
    failing: int             # rows that break it
    failing_rows: list[int]  # the first few of them
    message: str


@dataclass
class RuleResult:
    id: str
    rule: str
    column: str | None
    severity: str
    status: str  # passed | failed | skipped
    expected: Any = None
    observed: Any = None
    failing: int = 0
    failing_rows: list[int] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> RuleEntry:
        return {"id": self.id, "rule": self.rule, "column": self.column, "severity": self.severity,
                "status": self.status, "passed": self.status != "failed",
                "expected": self.expected, "observed": self.observed,
                "failing": self.failing, "failing_rows": self.failing_rows, "message": self.message}


def _pa() -> tuple[Any, Any, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    return np, pa, pc


def type_name(t: Any) -> str:
    """Arrow type -> the rules file's dtype words."""
    _, pa, _ = _pa()
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_null(t):
        return "null"
    return str(t)


def dtype_ok(expected: str, actual: str) -> bool:
    return (expected in ("any", actual) or (expected == "float" and actual == "int")
            or actual == "null")  # an all-null column has no type; null rules judge it


_PARSE_PATTERNS = {"int": r"^\s*[-+]?\d+\s*$",
                   "float": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(inf|nan)\s*$",
                   "bool": r"^(?i)(true|false|0|1)$"}


class Rule:
    """One rule. ``mask(col)`` returns the rows that break it (True = bad) or None."""

    rule = ""

    def __init__(self, column: str | None, expected: Any, severity: str, sample: int):
        self.column = column
        self.expected = expected
        self.severity = severity
        self.sample = sample
        self.failing = 0
        self.rows: list[int] = []
        self.skip_reason: str | None = None
        self.crashed: str | None = None

    @property
    def id(self) -> str:
        return f"{self.column}.{self.rule}" if self.column is not None else f"table.{self.rule}"

    def add_mask(self, bad: Any, offset: int) -> None:
        _, pa, pc = _pa()
        if bad is None:
            return
        bad = pc.fill_null(bad, False)
        count = pc.sum(bad).as_py() or 0
        if count:
            self.failing += count
            if len(self.rows) < self.sample:
                idx = pc.indices_nonzero(bad) if isinstance(bad, pa.Array) else pc.indices_nonzero(
                    bad.combine_chunks())
                need = self.sample - len(self.rows)
                self.rows.extend(int(i) + offset for i in idx.slice(0, need).to_pylist())

    def update(self, table: Any, offset: int) -> None:
        col = table.column(self.column) if self.column is not None else None
        self.add_mask(self.mask(col), offset)

    def safe_update(self, table: Any, offset: int) -> None:
        """update(), but data this rule cannot handle fails the rule instead of the run."""
        if self.crashed:
            return
        try:
            self.update(table, offset)
        except (ArithmeticError, LookupError, TypeError, ValueError, NotImplementedError) as exc:
            # pyarrow's errors derive from these
            self.crashed = f"could not be checked: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"

    def mask(self, col: Any) -> Any:
        return None

    def observed(self) -> Any:
        return None

    def passed(self) -> bool:
        return self.failing == 0

    def message(self) -> str:
        return f"{self.failing} rows break {self.rule}" if self.failing else ""

    def result(self) -> RuleResult:
        if self.skip_reason:
            return RuleResult(self.id, self.rule, self.column, self.severity, "skipped", self.expected,
                              None, 0, [], self.skip_reason)
        if self.crashed:
            return RuleResult(self.id, self.rule, self.column, self.severity, "failed", self.expected,
                              None, self.failing, self.rows, self.crashed)
        ok = self.passed()
        return RuleResult(self.id, self.rule, self.column, self.severity, "passed" if ok else "failed",
                          self.expected, self.observed(), self.failing, self.rows, "" if ok else self.message())


class RequiredRule(Rule):
    rule = "required"

    def __init__(self, column: str, expected: bool, severity: str, sample: int, present: bool):
        super().__init__(column, expected, severity, sample)
        self.present = present

    def update(self, table: Any, offset: int) -> None:
        pass

    def observed(self) -> Any:
        return "present" if self.present else "missing"

    def passed(self) -> bool:
        return self.present or not self.expected

    def message(self) -> str:
        return f"column `{self.column}` is missing"


class DtypeRule(Rule):
    rule = "dtype"

    def __init__(self, column: str, expected: str, severity: str, sample: int, actual: str):
        super().__init__(column, expected, severity, sample)
        self.actual = actual
        self.mismatch = not dtype_ok(expected, actual)

    def mask(self, col: Any) -> Any:
        if not self.mismatch:
            return None
        _, pa, pc = _pa()
        pattern = _PARSE_PATTERNS.get(self.expected)
        if self.actual == "string" and pattern:
            # a mixed-type column: name the rows whose text is not a valid value
            return pc.invert(pc.match_substring_regex(col, pattern=pattern))
        return pc.is_valid(col)

    def observed(self) -> Any:
        return self.actual

    def passed(self) -> bool:
        return not self.mismatch

    def message(self) -> str:
        extra = f"; {self.failing} values are not {self.expected}" if self.failing else ""
        return f"expected {self.expected}, got {self.actual}{extra}"


class NullRule(Rule):
    """``nullable: false`` (expected 0) or ``max_null_fraction``."""

    def __init__(self, column: str, rule: str, expected: Any, severity: str, sample: int):
        super().__init__(column, expected, severity, sample)
        self.rule = rule
        self.rows_seen = 0

    def mask(self, col: Any) -> Any:
        _, _, pc = _pa()
        self.rows_seen += len(col)
        return pc.is_null(col) if col.null_count else None

    def fraction(self) -> float:
        return self.failing / self.rows_seen if self.rows_seen else 0.0

    def observed(self) -> Any:
        return {"nulls": self.failing, "fraction": round(self.fraction(), 6)}

    def passed(self) -> bool:
        if self.rule == "nullable":
            return self.failing == 0
        return self.fraction() <= self.expected

    def message(self) -> str:
        if self.rule == "nullable":
            return f"{self.failing} missing values; the column is not nullable"
        return f"{self.fraction():.4f} of values missing, more than {self.expected}"


class NonFiniteRule(Rule):
    def __init__(self, column: str, rule: str, severity: str, sample: int):
        super().__init__(column, False, severity, sample)
        self.rule = rule

    def mask(self, col: Any) -> Any:
        _, pa, pc = _pa()
        if not pa.types.is_floating(col.type):
            return None
        if self.rule == "allow_nan":
            return pc.is_nan(col)
        return pc.is_inf(col)

    def observed(self) -> Any:
        return {"count": self.failing}

    def message(self) -> str:
        what = "NaN" if self.rule == "allow_nan" else "infinite"
        return f"{self.failing} {what} values (allow with `{self.rule}: true`)"


class BoundRule(Rule):
    def __init__(self, column: str, rule: str, expected: float, severity: str, sample: int):
        super().__init__(column, expected, severity, sample)
        self.rule = rule
        self.extreme: float | None = None

    def mask(self, col: Any) -> Any:
        _, pa, pc = _pa()
        mm = pc.min_max(col)
        value = mm["min" if self.rule == "min" else "max"].as_py()
        if value is not None and value == value:
            if self.extreme is None:
                self.extreme = value
            else:
                self.extreme = min(self.extreme, value) if self.rule == "min" else max(self.extreme, value)
        if value is None or (value >= self.expected if self.rule == "min" else value <= self.expected):
            return None
        return pc.less(col, self.expected) if self.rule == "min" else pc.greater(col, self.expected)

    def observed(self) -> Any:
        return self.extreme

    def message(self) -> str:
        word = "below the minimum" if self.rule == "min" else "above the maximum"
        return f"{self.failing} values {word} {self.expected} (observed {self.rule} {self.extreme})"


class SetRule(Rule):
    """``allowed`` (bad = not in set) or ``forbidden`` (bad = in set)."""

    def __init__(self, column: str, rule: str, expected: list[Any], severity: str, sample: int):
        super().__init__(column, expected, severity, sample)
        self.rule = rule
        self.examples: list[Any] = []
        self._set = None

    def _value_set(self, col: Any) -> Any:
        _, pa, pc = _pa()
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        values = self.expected
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        try:
            return pa.array(values).cast(t)
        except (pa.ArrowException, ValueError, TypeError):
            return pa.array([str(v) for v in values]) if pa.types.is_string(t) else pa.array(values)

    def mask(self, col: Any) -> Any:
        _, pa, pc = _pa()
        if self._set is None:
            self._set = self._value_set(col)
        hit = pc.is_in(col, value_set=self._set)
        bad = pc.and_(pc.invert(hit), pc.is_valid(col)) if self.rule == "allowed" else hit
        if len(self.examples) < 10 and pc.any(pc.fill_null(bad, False)).as_py():
            found = pc.unique(pc.filter(col, pc.fill_null(bad, False))).slice(0, 10).to_pylist()
            for v in found:
                if v not in self.examples and len(self.examples) < 10:
                    self.examples.append(v)
        return bad

    def observed(self) -> Any:
        key = "unexpected_values" if self.rule == "allowed" else "forbidden_values"
        return {key: self.examples}

    def message(self) -> str:
        shown = ", ".join(map(repr, self.examples[:5]))
        what = "values outside the allowed set" if self.rule == "allowed" else "forbidden values"
        return f"{self.failing} {what}: {shown}"


class RegexRule(Rule):
    rule = "regex"

    def __init__(self, column: str, expected: str, severity: str, sample: int):
        super().__init__(column, expected, severity, sample)
        self.examples: list[str] = []

    def mask(self, col: Any) -> Any:
        _, pa, pc = _pa()
        bad = pc.invert(pc.match_substring_regex(col, pattern=self.expected))
        if len(self.examples) < 5:
            filled = pc.fill_null(bad, False)
            if pc.any(filled).as_py():
                self.examples += pc.filter(col, filled).slice(0, 5 - len(self.examples)).to_pylist()
        return bad

    def observed(self) -> Any:
        return {"examples": self.examples}

    def message(self) -> str:
        return f"{self.failing} values do not match {self.expected!r}, e.g. {self.examples[:3]}"


class LengthRule(Rule):
    def __init__(self, column: str, rule: str, expected: int, severity: str, sample: int):
        super().__init__(column, expected, severity, sample)
        self.rule = rule
        self.extreme: int | None = None

    def mask(self, col: Any) -> Any:
        _, _, pc = _pa()
        lengths = pc.utf8_length(col)
        value = pc.min_max(lengths)["min" if self.rule == "min_length" else "max"].as_py()
        if value is not None:
            self.extreme = value if self.extreme is None else (
                min(self.extreme, value) if self.rule == "min_length" else max(self.extreme, value))
        return (pc.less(lengths, self.expected) if self.rule == "min_length"
                else pc.greater(lengths, self.expected))

    def observed(self) -> Any:
        return self.extreme

    def message(self) -> str:
        word = "shorter than" if self.rule == "min_length" else "longer than"
        return f"{self.failing} values {word} {self.expected} characters"


def _keys(col: Any) -> tuple[Any, Any]:
    """(uint64 keys, valid mask) for a column: exact for numbers, SipHash for anything else."""
    np, pa, pc = _pa()
    valid = (~np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False))
             if col.null_count else np.ones(len(col), dtype=bool))
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_timestamp(t) or pa.types.is_date(t):
        arr = col if t == pa.int64() else pc.cast(col, pa.int64())
        arr = pc.fill_null(arr, 0) if col.null_count else arr
        chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
        x = (chunks[0].to_numpy() if len(chunks) == 1 else
             np.concatenate([c.to_numpy() for c in chunks]) if chunks else np.empty(0, dtype=np.int64))
        return x.astype(np.int64, copy=False).view(np.uint64), valid
    if pa.types.is_floating(t):
        x = np.asarray(pc.fill_null(pc.cast(col, pa.float64()), 0.0).to_numpy()) + 0.0  # -0.0 -> 0.0
        x[np.isnan(x)] = np.nan  # one NaN pattern
        return x.view(np.uint64), valid
    import pandas as pd

    text = pc.cast(col, pa.string()) if not pa.types.is_string(t) else col
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    values[~valid] = ""
    return pd.util.hash_array(values, categorize=True), valid


class UniqueRule(Rule):
    rule = "unique"

    def __init__(self, column: str | None, severity: str, sample: int, keys_held: int | None = None):
        from mlci.validation.duplicates import Duplicates

        super().__init__(column, True, severity, sample)
        self.duplicates = Duplicates(sample, keys_held)

    def batch_keys(self, table: Any) -> tuple[Any, Any]:
        return _keys(table.column(self.column))

    def update(self, table: Any, offset: int) -> None:
        np, _, _ = _pa()
        keys, valid = self.batch_keys(table)
        if valid.all():
            self.duplicates.add(keys, (offset, len(keys)))
        else:
            self.duplicates.add(keys[valid], (np.flatnonzero(valid) + offset).astype(np.int64))

    def finish(self) -> None:
        self.failing, self.rows = self.duplicates.finish()

    def observed(self) -> Any:
        return {"duplicates": self.failing}

    def message(self) -> str:
        return f"{self.failing} rows repeat an earlier value"


class DuplicateRowsRule(UniqueRule):
    rule = "no_duplicate_rows"

    def __init__(self, severity: str, sample: int, keys_held: int | None = None):
        super().__init__(None, severity, sample, keys_held)

    def batch_keys(self, table: Any) -> tuple[Any, Any]:
        np, _, _ = _pa()
        h = np.zeros(table.num_rows, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for name in table.column_names:
                keys, valid = _keys(table.column(name))
                keys = np.where(valid, keys, np.uint64(0x9E3779B97F4A7C15))
                h = (h * np.uint64(0x100000001B3)) ^ keys
        return h, np.ones(len(h), dtype=bool)

    def message(self) -> str:
        return f"{self.failing} rows repeat an earlier row"


class TableExpressionRule(Rule):
    rule = "expression"

    def __init__(self, expression: Any, name: str, severity: str, sample: int):
        super().__init__(None, expression.text, severity, sample)
        self.expression = expression
        self.name = name
        self.error: str | None = None

    @property
    def id(self) -> str:
        return f"table.expression[{self.name}]"

    def update(self, table: Any, offset: int) -> None:
        from mlci.validation.expr import ExpressionError

        _, pa, pc = _pa()
        if self.error:
            self.failing += table.num_rows
            return
        try:
            ok = self.expression.evaluate(table)
        except ExpressionError as exc:
            self.error = str(exc)
            self.failing += table.num_rows
            return
        self.add_mask(pc.invert(pc.fill_null(ok, False)), offset)

    def observed(self) -> Any:
        return {"error": self.error} if self.error else {"false_rows": self.failing}

    def message(self) -> str:
        if self.error:
            return self.error
        return f"{self.failing} rows where `{self.expression.text}` is not true"


class RowCountRule(Rule):
    def __init__(self, rule: str, expected: int, severity: str, sample: int):
        super().__init__(None, expected, severity, sample)
        self.rule = rule
        self.rows_seen = 0

    def update(self, table: Any, offset: int) -> None:
        self.rows_seen += table.num_rows

    def observed(self) -> Any:
        return self.rows_seen

    def passed(self) -> bool:
        return self.rows_seen >= self.expected if self.rule == "min_rows" else self.rows_seen <= self.expected

    def message(self) -> str:
        word = "fewer than" if self.rule == "min_rows" else "more than"
        return f"{self.rows_seen} rows, {word} {self.expected}"


class ColumnSetRule(Rule):
    rule = "columns"

    def __init__(self, expected: str, declared: list[str], actual: list[str], severity: str, sample: int):
        super().__init__(None, expected, severity, sample)
        self.declared, self.actual = declared, actual
        self.extra = [c for c in actual if c not in declared]
        present = [c for c in actual if c in declared]
        self.out_of_order = expected == "ordered" and present != [c for c in declared if c in actual]

    def update(self, table: Any, offset: int) -> None:
        pass

    def observed(self) -> Any:
        return {"columns": self.actual, "extra": self.extra}

    def passed(self) -> bool:
        return not self.extra and not self.out_of_order

    def message(self) -> str:
        parts = []
        if self.extra:
            parts.append(f"undeclared columns: {', '.join(self.extra)}")
        if self.out_of_order:
            parts.append("columns not in the declared order")
        return "; ".join(parts)


def _severity(col: Any, rule: str, default: str) -> str:
    return col.severities.get(rule) or col.severity or default


def build_rules(schema: Schema | None, names: list[str], types: dict[str, str], *, default_severity: str,
                sample: int, target: str | None = None,
                keys_held: int | None = None) -> tuple[list[Rule], list[RuleResult]]:
    """Rules to run over the batches, and results decided by the column list alone.

    ``keys_held``: the most keys a `unique` or `no_duplicate_rows` rule holds in memory
    before it writes them to disk (None: no limit)."""
    from mlci.validation.expr import compile_expression

    rules: list[Rule] = []
    fixed: list[RuleResult] = []
    present = set(names)
    if target is not None:
        req = RequiredRule(target, True, default_severity, sample, target in present)
        req.rule = "target"
        fixed.append(req.result())
    if schema is None:
        rules.append(RowCountRule("min_rows", 1, default_severity, sample))
        for name in names:
            rules.append(_NotAllNull(name, default_severity, sample))
        return rules, fixed

    for name, col in schema.columns.items():
        sev = lambda rule: _severity(col, rule, default_severity)  # noqa: E731
        req = RequiredRule(name, col.required, sev("required"), sample, name in present)
        fixed.append(req.result())
        if name not in present:
            continue
        actual = types[name]
        ok_type = True
        if col.dtype is not None:
            dc = DtypeRule(name, col.dtype, sev("dtype"), sample, actual)
            rules.append(dc)
            ok_type = not dc.mismatch
        if not col.nullable:
            rules.append(NullRule(name, "nullable", 0, sev("nullable"), sample))
        if col.max_null_fraction is not None:
            rules.append(NullRule(name, "max_null_fraction", col.max_null_fraction,
                                    sev("max_null_fraction"), sample))
        numeric = actual in ("int", "float")
        string = actual == "string"

        def add(rule: Rule, needs: str | None) -> None:
            if needs == "numeric" and not numeric:
                rule.skip_reason = f"column is {actual}, not numeric" + ("" if ok_type else " (see dtype)")
            elif needs == "string" and not string:
                rule.skip_reason = f"column is {actual}, not string" + ("" if ok_type else " (see dtype)")
            if rule.skip_reason:
                fixed.append(rule.result())
            else:
                rules.append(rule)

        if actual == "float" or col.dtype == "float":
            if not col.allow_nan:
                add(NonFiniteRule(name, "allow_nan", sev("allow_nan"), sample), "numeric")
            if not col.allow_inf:
                add(NonFiniteRule(name, "allow_inf", sev("allow_inf"), sample), "numeric")
        if col.min is not None:
            add(BoundRule(name, "min", col.min, sev("min"), sample), "numeric")
        if col.max is not None:
            add(BoundRule(name, "max", col.max, sev("max"), sample), "numeric")
        if col.allowed is not None:
            add(SetRule(name, "allowed", col.allowed, sev("allowed"), sample), None)
        if col.forbidden is not None:
            add(SetRule(name, "forbidden", col.forbidden, sev("forbidden"), sample), None)
        if col.unique:
            add(UniqueRule(name, sev("unique"), sample, keys_held), None)
        if col.regex is not None:
            add(RegexRule(name, col.regex, sev("regex"), sample), "string")
        if col.min_length is not None:
            add(LengthRule(name, "min_length", col.min_length, sev("min_length"), sample), "string")
        if col.max_length is not None:
            add(LengthRule(name, "max_length", col.max_length, sev("max_length"), sample), "string")

    t = schema.table
    tsev = lambda rule: t.severities.get(rule) or t.severity or default_severity  # noqa: E731
    if t.min_rows is not None:
        rules.append(RowCountRule("min_rows", t.min_rows, tsev("min_rows"), sample))
    if t.max_rows is not None:
        rules.append(RowCountRule("max_rows", t.max_rows, tsev("max_rows"), sample))
    if t.columns != "any":
        fixed.append(ColumnSetRule(t.columns, list(schema.columns), names, tsev("columns"), sample).result())
    if t.no_duplicate_rows:
        rules.append(DuplicateRowsRule(tsev("no_duplicate_rows"), sample, keys_held))
    for spec in t.expressions:
        expression = compile_expression(spec.expr)
        rule = TableExpressionRule(expression, spec.name or spec.expr,
                                   spec.severity or t.severity or default_severity, sample)
        missing = [c for c in expression.columns if c not in present]
        if missing:  # every row fails, with the reason
            rule.error = f"columns not in the data: {', '.join(missing)}"
        rules.append(rule)
    return rules, fixed


class _NotAllNull(Rule):
    rule = "not_all_null"

    def __init__(self, column: str, severity: str, sample: int):
        super().__init__(column, True, severity, sample)
        self.rows_seen = 0
        self.nulls = 0

    def update(self, table: Any, offset: int) -> None:
        col = table.column(self.column)
        self.rows_seen += len(col)
        self.nulls += col.null_count

    def observed(self) -> Any:
        return {"nulls": self.nulls, "rows": self.rows_seen}

    def passed(self) -> bool:
        return self.rows_seen == 0 or self.nulls < self.rows_seen

    def message(self) -> str:
        return f"every value of `{self.column}` is missing"
