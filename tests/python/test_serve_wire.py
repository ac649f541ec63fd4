"""The wire formats on their own (no server): shapes and types the server tests don't reach."""

from __future__ import annotations

import json
import math

import pytest

from mlci.serve import wire

SCHEMA = wire.Schema.from_signature({"inputs": [
    {"name": "age", "dtype": "int64"}, {"name": "bmi", "dtype": "float64"},
    {"name": "smoker", "dtype": "bool"}, {"name": "region", "dtype": "string", "categorical": True}]})


def rows(body, ctype="application/json", schema=SCHEMA, query=None):
    return wire.parse(body.encode() if isinstance(body, str) else body, ctype, schema, query).rows


def refused(body, ctype="application/json", schema=SCHEMA):
    with pytest.raises(wire.BadRequest) as err:
        rows(body, ctype, schema)
    return str(err.value)


def test_kinds_from_signature_dtypes():
    assert SCHEMA.kinds == [wire.NUMERIC, wire.NUMERIC, wire.BOOL, wire.TEXT]
    assert SCHEMA.integer == [True, False, False, False]
    assert not SCHEMA.all_numeric


def test_nulls_become_missing_values():
    got = rows('{"dataframe_records": [{"age": 40, "bmi": null, "smoker": null, "region": null}]}')
    assert got[0][0] == 40 and math.isnan(got[0][1]) and got[0][2:] == [None, None]


def test_integer_columns_take_integral_numbers_only():
    assert rows('{"inputs": [[40.0, 1.5, true, "n"]]}') == [[40.0, 1.5, True, "n"]]
    assert refused('{"inputs": [[40.5, 1.5, true, "n"]]}') == "inputs[0]: column 'age' expected an integer, got 40.5"
    assert refused("age,bmi,smoker,region\n40.5,1,true,n\n", "text/csv") == \
        "CSV line 2: column 'age' expected an integer, got '40.5'"


def test_booleans_and_strings_are_checked():
    # 1/0 are booleans, and a categorical column takes numbers (compared as text, mlci.columns)
    assert rows('{"inputs": [[40, 1.5, 1, 7]]}') == [[40, 1.5, True, 7]]
    assert refused('{"inputs": [[40, 1.5, 2, "n"]]}') == "inputs[0]: column 'smoker' expected true or false, got a number 2"
    assert refused('{"inputs": [[40, 1.5, false, [7]]]}') == "inputs[0]: column 'region' expected a string, got a list [7]"
    assert refused("age,bmi,smoker,region\n40,1,maybe,n\n", "text/csv") == \
        "CSV line 2: column 'smoker' expected true or false, got a string 'maybe'"


def test_csv_cells_are_converted_by_column_kind():
    assert rows("region,smoker,bmi,age\nnorth,TRUE,22.5,40\nsouth,0,,41\n", "text/csv;charset=utf-8")[0] == \
        [40.0, 22.5, True, "north"]
    second = rows("region,smoker,bmi,age\nnorth,TRUE,22.5,40\nsouth,0,,41\n", "text/csv")[1]
    assert second[0] == 41.0 and math.isnan(second[1]) and second[2:] == [False, "south"]


def test_a_single_input_model_takes_a_list_of_scalars():
    one = wire.Schema.from_signature({"inputs": [{"name": "x", "dtype": "float64"}]})
    assert rows('{"instances": [1, 2.5]}', schema=one) == [[1], [2.5]]
    assert rows('{"inputs": {"x": 3}}', schema=one) == [[3]]


def test_probabilities_from_the_query_or_params():
    body = '{"inputs": [[40, 1.5, true, "n"]]}'
    assert wire.parse(body.encode(), None, SCHEMA, {"proba": "true"}).proba
    assert wire.parse(b'{"inputs": [[40, 1.5, true, "n"]], "params": {"proba": "yes"}}', None, SCHEMA).proba
    assert not wire.parse(body.encode(), None, SCHEMA).proba


def test_predictions_body_with_numpy_values():
    import numpy as np

    assert json.loads(wire.predictions_body([np.int64(1)], ["a"], [[np.float64(0.5)]])) == \
        {"predictions": [1], "classes": ["a"], "probabilities": [[0.5]]}


def test_a_prediction_that_is_not_a_finite_number_is_answered_as_null():
    # a regressor can give NaN or an infinity; the answer stays valid JSON (it was a 500)
    body = wire.predictions_body([float("nan"), 1.5, float("inf"), 0.30000000000000004, "é"])
    assert json.loads(body) == {"predictions": [None, 1.5, None, 0.30000000000000004, "é"]}


# --- numeric requests read as a float array (the fast path) --------------------------------------

NUMERIC_SCHEMA = wire.Schema.from_signature({"inputs": [
    {"name": "age", "dtype": "int64"}, {"name": "bmi", "dtype": "float64"}, {"name": "bp", "dtype": "float64"}]})

MANY = [[40, 1.5, 2.25]] * 50  # 150 values with no 0 or 1 among them, age integral

SAME_AS_ROW_BY_ROW = [
    # taken as an array: JSON numbers and null only
    ('{"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[40, 1.5, null], [41, -0.0, 2e-300]]}}', True),
    ('{"dataframe_split": {"columns": ["bp", "age", "id", "bmi"], "data": [[1, 2, "x7", 3]]}}', False),
    ('{"dataframe_split": {"columns": ["bp", "age", "id", "bmi"], "data": [[1, 2, 9, 3]]}, "params": {"proba": 1}}',
     True),
    ('{"dataframe_split": {"data": [[40.0, 1.5, 2], [1e3, 1, 1]], "index": [7, 8]}}', True),
    ('{"instances": [[40, 1.5, 2], [12345678901234567890123, 0.1, 0.2]]}', True),
    ('{"inputs": [[18446744073709551615, 1.5, 2]]}', True),
    ('{"inputs": [[-9223372036854775809, 1.5, 2]]}', True),
    ('{"inputs": [[40.0, 0.30000000000000004, 1.7976931348623157e308]]}', True),
    # from 128 values numpy finds the types (wire._number_rows): the same answers
    ('{"inputs": ' + json.dumps([[40, 1, 2], [0, 0, 1], [1, -0.0, 0.0]] + MANY) + '}', True),  # 0 and 1 as numbers
    ('{"inputs": ' + json.dumps([[0, 1, 0]] * 30 + MANY) + '}', True),  # past 64 zeros and ones: a type check
    ('{"inputs": ' + json.dumps(MANY + [[40, 1, None]]) + '}', True),
    ('{"instances": ' + json.dumps(MANY + [[2 ** 64 - 1, 1.5, 2]]) + '}', True),
    # everything else takes the row-by-row path: same values, same 400s
    ('{"inputs": ' + json.dumps(MANY + [[40, False, 2.5]]) + '}', False),  # a boolean numpy would read as 0
    ('{"inputs": ' + json.dumps([[True, 1.5, 2]] + MANY) + '}', False),
    ('{"inputs": ' + json.dumps([[0, 1, 0]] * 30 + [[1, True, 0]] + MANY) + '}', False),
    ('{"inputs": ' + json.dumps([[[40, 1, 2]]] * 50) + '}', False),
    ('{"inputs": ' + json.dumps(MANY + [[40, "1.5", 2]]) + '}', False),
    ('{"inputs": ' + json.dumps(MANY + [[40, 1.5]]) + '}', False),
    ('{"inputs": [[40, false, 2.5]]}', False),
    ('{"inputs": [[40, "1.5", 2]]}', False),
    ('{"inputs": [[40, true, 2]]}', False),
    ('{"inputs": [[40, NaN, 2]]}', False),
    ('{"inputs": [[40, 1e400, 2]]}', False),
    ('{"inputs": [[40, -Infinity, 2]]}', False),
    ('{"inputs": [[40.5, 1, 2]]}', False),
    ('{"inputs": [[1e400, 1, 2]]}', False),
    ('{"inputs": [[' + "9" * 400 + ', 1, 2]]}', False),
    ('{"inputs": [[40, 1, 2], [40, 1]]}', False),
    ('{"inputs": [[40, 1, [2]]]}', False),
    ('{"inputs": [[40, 1, {"a": 2}]]}', False),
    ('{"inputs": []}', False),
    ('{"inputs": [[40, 1, 2]], "extra": 1}', False),
    ('{"inputs": [[40, 1, 2]], "params": [1]}', False),
    ('{"inputs": [[40, 1, 2]], "params": null}', False),
    ('{"instances": {"age": [1], "bmi": [2], "bp": [3]}}', False),
    ('{"dataframe_records": [{"age": 1, "bmi": 2, "bp": 3}]}', False),
    ('{"dataframe_split": {"columns": ["age", "age", "bp"], "data": [[1, 2, 3]]}}', False),
    ('{"dataframe_split": {"columns": ["age", "bmi", "pb"], "data": [[1, 2, 3]]}}', False),
    ('{"dataframe_split": {"columns": ["age", "bmi", 3], "data": [[1, 2, 3]]}}', False),
    ('{"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, 2, 3]], "other": 1}}', False),
    ('{"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, 2, 3]]}, "inputs": [[1, 2, 3]]}', False),
    ('{"inputs": [[40, "\\ud800", 2]]}', False),
    (b'{"inputs": [[40, 1, 2]]}\xff', False),
    ('\ufeff{"inputs": [[40, 1, 2]]}', False),
    ('[[40, 1, 2]]', False),
]


@pytest.mark.parametrize("body, as_array", SAME_AS_ROW_BY_ROW)
def test_numeric_json_read_as_an_array_gives_the_row_by_row_values_and_errors(body, as_array):
    """`parse(..., array=True)` (what a numeric model on the fast path asks for) answers every
    body exactly as the row-by-row path: the same float64 values (null: NaN), the same ignored
    columns and options, or the same 400 message; only plain numeric JSON becomes an array."""
    import numpy as np

    raw = body.encode() if isinstance(body, str) else body

    def parse(array):
        try:
            return wire.parse(raw, "application/json", NUMERIC_SCHEMA, None, array)
        except wire.BadRequest as exc:
            return str(exc)
        except (OverflowError, RecursionError) as exc:
            return type(exc).__name__

    slow, fast = parse(False), parse(True)
    if isinstance(slow, str):
        assert fast == slow
        return
    assert isinstance(fast.rows, np.ndarray) == as_array
    try:
        want = np.array(slow.rows, dtype=np.float64)  # what the predictor makes of the rows
    except OverflowError:
        assert not as_array
        return
    got = np.asarray(fast.rows, dtype=np.float64)
    assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    assert (fast.proba, fast.ignored) == (slow.proba, slow.ignored)


def test_text_columns_never_take_the_array_path():
    assert isinstance(wire.parse(b'{"inputs": [[40, 1.5, true, "n"]]}', "application/json", SCHEMA,
                                 None, True).rows, list)
