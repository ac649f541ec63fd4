"""The wire formats on their own (no server): shapes and types the server tests don't reach."""

from __future__ import annotations

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

    assert wire.predictions_body([np.int64(1)], ["a"], [[np.float64(0.5)]]) == \
        b'{"predictions": [1], "classes": ["a"], "probabilities": [[0.5]]}'
