"""Every rule kind, on passing and on failing data (in-process: the engine's results)."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from mlci.errors import ConfigError
from mlci.validation import run_validation
from mlci.validation.schema import parse_schema


def validate(table: pa.Table, schema: dict, chunk_rows: int | None = None) -> dict:
    return run_validation([("data", table)], schema=parse_schema(schema), chunk_rows=chunk_rows)


def rule(result: dict, rule_id: str) -> dict:
    rules = {r["id"]: r for r in result["datasets"][0]["rules"]}
    assert rule_id in rules, f"{rule_id} not among {sorted(rules)}"
    return rules[rule_id]


# (rule id, column spec, good column values, bad column values, failing row indices in bad)
COLUMN_CASES = [
    ("x.dtype", {"dtype": "int"}, [1, 2, 3], ["1", "two", "3"], [1]),
    ("x.nullable", {"nullable": False}, [1, 2, 3], [1, None, 3], [1]),
    ("x.max_null_fraction", {"max_null_fraction": 0.34}, [1, None, 3], [None, None, 3], [0, 1]),
    ("x.allow_nan", {}, [1.0, 2.0, 3.0], [1.0, math.nan, 3.0], [1]),
    ("x.allow_inf", {}, [1.0, 2.0, 3.0], [1.0, 2.0, -math.inf], [2]),
    ("x.min", {"min": 0}, [0, 5, 9], [0, -1, -5], [1, 2]),
    ("x.max", {"max": 10}, [0, 5, 10], [11, 5, 10], [0]),
    ("x.allowed", {"allowed": ["a", "b"]}, ["a", "b", None], ["a", "c", "b"], [1]),
    ("x.forbidden", {"forbidden": ["bad"]}, ["a", "b", "c"], ["bad", "b", "bad"], [0, 2]),
    ("x.unique", {"unique": True}, [1, 2, None, None], [1, 2, 1, 2], [2, 3]),
    ("x.unique", {"unique": True}, ["a", "b", "c"], ["a", "b", "a"], [2]),
    ("x.regex", {"regex": "^[a-z]+@[a-z]+$"}, ["a@b", "c@d", None], ["a@b", "nope", "c@d"], [1]),
    ("x.min_length", {"min_length": 2}, ["ab", "abc", "abcd"], ["ab", "a", "abc"], [1]),
    ("x.max_length", {"max_length": 3}, ["ab", "abc", "a"], ["ab", "abcd", "a"], [1]),
]


@pytest.mark.parametrize("rule_id,spec,good,bad,rows", COLUMN_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(COLUMN_CASES)])
def test_column_rule_passes_and_fails(rule_id, spec, good, bad, rows):
    schema = {"columns": {"x": spec}}
    ok = validate(pa.table({"x": good}), schema)
    assert rule(ok, rule_id)["status"] == "passed"
    assert ok["passed"] and ok["errors"] == 0

    res = validate(pa.table({"x": bad}), schema)
    r = rule(res, rule_id)
    assert r["status"] == "failed", r
    assert r["failing_rows"] == rows
    assert r["failing"] == len(rows)
    assert r["message"]
    assert not res["passed"] and res["errors"] >= 1


def test_required_column_missing_is_named_and_other_rules_skip():
    res = validate(pa.table({"y": [1, 2]}), {"columns": {"x": {"dtype": "int", "min": 0}}})
    r = rule(res, "x.required")
    assert r["status"] == "failed" and "missing" in r["message"]
    ok = validate(pa.table({"y": [1]}), {"columns": {"x": {"required": False, "min": 0}}})
    assert ok["passed"]


def test_numeric_rules_on_a_text_column_are_skipped_not_crashing():
    res = validate(pa.table({"x": ["a", "b"]}), {"columns": {"x": {"dtype": "int", "min": 0}}})
    assert rule(res, "x.dtype")["status"] == "failed"
    assert rule(res, "x.min")["status"] == "skipped"


@pytest.mark.parametrize("spec,good,bad,rows", [
    ({"min_rows": 3}, 3, 2, None),
    ({"max_rows": 3}, 3, 4, None),
])
def test_row_count_rules(spec, good, bad, rows):
    key = next(iter(spec))
    schema = {"table": spec}
    assert rule(validate(pa.table({"x": list(range(good))}), schema), f"table.{key}")["status"] == "passed"
    r = rule(validate(pa.table({"x": list(range(bad))}), schema), f"table.{key}")
    assert r["status"] == "failed" and r["observed"] == bad


def test_duplicate_rows():
    schema = {"table": {"no_duplicate_rows": True}}
    ok = validate(pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"]}), schema)
    assert rule(ok, "table.no_duplicate_rows")["status"] == "passed"
    res = validate(pa.table({"a": [1, 2, 1, 1], "b": ["x", "y", "x", None]}), schema)
    r = rule(res, "table.no_duplicate_rows")
    assert r["status"] == "failed" and r["failing_rows"] == [2]


def test_strict_and_ordered_column_sets():
    cols = {"a": {}, "b": {}}
    ok = validate(pa.table({"a": [1], "b": [2]}), {"columns": cols, "table": {"columns": "ordered"}})
    assert rule(ok, "table.columns")["status"] == "passed"
    extra = validate(pa.table({"a": [1], "b": [2], "c": [3]}), {"columns": cols, "table": {"columns": "strict"}})
    r = rule(extra, "table.columns")
    assert r["status"] == "failed" and "c" in r["message"]
    swapped = validate(pa.table({"b": [2], "a": [1]}), {"columns": cols, "table": {"columns": "ordered"}})
    assert rule(swapped, "table.columns")["status"] == "failed"
    assert rule(validate(pa.table({"b": [2], "a": [1]}), {"columns": cols, "table": {"columns": "strict"}}),
                "table.columns")["status"] == "passed"


def test_expression_rule():
    schema = {"table": {"expressions": [{"name": "paid", "expr": 'income >= 0 or plan == "free"'}]}}
    ok = validate(pa.table({"income": [1.0, -5.0], "plan": ["pro", "free"]}), schema)
    assert rule(ok, "table.expression[paid]")["status"] == "passed"
    res = validate(pa.table({"income": [1.0, -5.0, None], "plan": ["pro", "pro", "pro"]}), schema)
    r = rule(res, "table.expression[paid]")
    assert r["status"] == "failed" and r["failing_rows"] == [1, 2]


def test_expression_on_missing_column_fails_the_rule_with_its_name():
    schema = {"table": {"expressions": [{"expr": "nope > 1"}]}}
    r = rule(validate(pa.table({"x": [1]}), schema), "table.expression[nope > 1]")
    assert r["status"] == "failed" and "nope" in r["message"]


@pytest.mark.parametrize("expr", ['__import__("os").system("true")', "x.__class__", "(lambda: 1)()",
                                  "open('f')", "x ** 2", "[c for c in x]", "x if x else 1", "x in y"])
def test_unsafe_expressions_are_refused_when_the_schema_loads(expr):
    with pytest.raises(ConfigError) as err:
        parse_schema({"table": {"expressions": [{"expr": expr}]}})
    assert "table.expressions[0]" in str(err.value) and "not allowed" in str(err.value)


def test_per_rule_severity_warn_reports_without_failing():
    schema = {"columns": {"x": {"min": {"value": 0, "severity": "warn"}, "max": 10}}}
    res = validate(pa.table({"x": [-1, 5]}), schema)
    r = rule(res, "x.min")
    assert r["status"] == "failed" and r["severity"] == "warn"
    assert res["passed"] and res["warnings"] == 1 and res["errors"] == 0
    res = validate(pa.table({"x": [-1, 5]}), {"columns": {"x": {"min": 0, "severity": "warn"}}})
    assert res["passed"] and res["warnings"] == 1


@pytest.mark.parametrize("data,message", [
    ({"columns": {"x": {"mn": 1}}}, "columns.x.mn: unknown key `mn` (did you mean `min`?)"),
    ({"columns": {"x": {"dtype": "integer"}}}, "columns.x.dtype: expected"),
    ({"columns": {"x": {"min": 5, "max": 1}}}, "min (5) is greater than max (1)"),
    ({"columns": {"x": {"regex": "(unclosed"}}}, "invalid regex"),
    ({"table": {"colums": "strict"}}, "table.colums: unknown key `colums` (did you mean `columns`?)"),
    ({"table": {"min_rows": "many"}}, "table.min_rows: expected an integer"),
    (["not", "a", "mapping"], "expected a mapping"),
])
def test_rules_file_errors_name_the_field(data, message):
    with pytest.raises(ConfigError) as err:
        parse_schema(data, "schema.yaml")
    assert str(err.value).startswith("schema.yaml")
    assert message in str(err.value)


def test_chunked_reading_gives_the_same_results_including_unique_across_chunks():
    n = 1000
    ids = list(range(n))
    ids[900] = 5  # duplicates a value from the first chunk
    names = [f"n{i}" for i in range(n)]
    names[950] = "n3"
    table = pa.table({"id": ids, "name": names, "v": [float(i % 7) for i in range(n)]})
    schema = {"columns": {"id": {"unique": True}, "name": {"unique": True}, "v": {"max": 5}},
              "table": {"no_duplicate_rows": True}}
    whole = validate(table, schema)
    chunked = validate(table, schema, chunk_rows=64)
    assert chunked["datasets"][0]["batches"] > 10
    for rid in ("id.unique", "name.unique", "v.max", "table.no_duplicate_rows"):
        a, b = rule(whole, rid), rule(chunked, rid)
        assert (a["status"], a["failing"], a["failing_rows"]) == (b["status"], b["failing"], b["failing_rows"]), rid
    assert rule(chunked, "id.unique")["failing_rows"] == [900]
    assert rule(chunked, "name.unique")["failing_rows"] == [950]
