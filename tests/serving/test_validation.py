"""Payload parsing and signature validation, without a server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nbmlops.serving.validation import (
    InputSchema,
    PayloadError,
    columns_from_mlflow,
    columns_from_v2,
    validate,
)

SCHEMA = InputSchema(("age", "income", "city"), ("int64", "float64", "str"),
                     example=[{"age": 30, "income": 1.5, "city": "Oslo"}])


def parse(body: object, schema: InputSchema = SCHEMA) -> dict[str, np.ndarray]:
    return validate(columns_from_mlflow(body, schema), schema).arrays


def err(body: object, schema: InputSchema = SCHEMA) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        parse(body, schema)
    return info.value


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": ["age", "income", "city"], "data": [[30, 1.5, "Oslo"]]}},
    {"dataframe_split": {"columns": ["city", "age", "income"], "data": [["Oslo", 30, 1.5]]}},
    {"dataframe_split": {"data": [[30, 1.5, "Oslo"]]}},
    {"dataframe_records": [{"income": 1.5, "age": 30, "city": "Oslo"}]},
    {"instances": [{"age": 30, "income": 1.5, "city": "Oslo"}]},
    {"instances": [[30, 1.5, "Oslo"]]},
    {"inputs": {"age": [30], "income": [1.5], "city": ["Oslo"]}},
])
def test_every_mlflow_format_gives_the_same_columns(body: object) -> None:
    arrays = parse(body)
    assert list(arrays) == ["age", "income", "city"]
    assert arrays["age"].dtype == np.int64 and arrays["age"].tolist() == [30]
    assert arrays["income"].dtype == np.float64 and arrays["income"].tolist() == [1.5]
    assert arrays["city"].tolist() == ["Oslo"]


def test_missing_and_unknown_columns_are_named_with_what_is_expected() -> None:
    e = err({"dataframe_records": [{"age": 30, "income": 1.5, "town": "Oslo"}]})
    assert e.status == 400
    assert "missing column(s) 'city'" in str(e) and "unknown column(s) 'town'" in str(e)
    assert e.expected["columns"] == ["age", "income", "city"]
    assert e.expected["dtypes"] == ["int64", "float64", "str"]
    assert e.expected["example"]["dataframe_split"]["data"] == [[30, 1.5, "Oslo"]]


def test_a_later_record_with_other_columns_is_refused() -> None:
    e = err({"dataframe_records": [{"age": 1, "income": 1.0, "city": "a"},
                                   {"age": 1, "income": 1.0}]})
    assert "dataframe_records[1]" in str(e) and "'city'" in str(e)


@pytest.mark.parametrize(("row", "needle"), [
    (["thirty", 1.5, "Oslo"], "column 'age' expects integers (int64); row 0 has 'thirty'"),
    ([30.5, 1.5, "Oslo"], "column 'age' expects integers"),
    ([True, 1.5, "Oslo"], "column 'age' expects integers"),
    ([30, "1.5", "Oslo"], "column 'income' expects numbers (float64)"),
    ([30, 1.5, 7], "column 'city' expects strings (str)"),
    ([30, [1], "Oslo"], "column 'income' expects numbers"),
    ([2**70, 1.5, "Oslo"], "column 'age'"),
])
def test_wrong_dtypes_say_column_row_and_expected_type(row: list[object], needle: str) -> None:
    e = err({"dataframe_split": {"columns": ["age", "income", "city"], "data": [row]}})
    assert needle in str(e)


def test_integral_floats_are_accepted_for_int_columns() -> None:
    arrays = parse({"instances": [[30.0, 1, "Oslo"]]})
    assert arrays["age"].dtype == np.int64 and arrays["income"].dtype == np.float64


def test_nan_and_null_are_refused_unless_the_model_takes_missing_values() -> None:
    body = {"dataframe_split": {"columns": ["age", "income", "city"],
                                "data": [[30, 1.0, "a"], [31, float("nan"), "b"]]}}
    assert "column 'income' has NaN at row 1; this model cannot take missing values" in str(
        err(body))
    assert "missing value (null) at row 0" in str(err({"instances": [[None, 1.0, "a"]]}))
    lenient = InputSchema(SCHEMA.columns, SCHEMA.dtypes, allow_nan=True)
    assert math.isnan(parse(body, lenient)["income"][1])
    assert "infinite" in str(err({"instances": [[1, float("inf"), "a"]]}, lenient))


@pytest.mark.parametrize(("body", "needle"), [
    ({"dataframe_records": []}, "is empty"),
    ({"dataframe_split": {"columns": ["age", "income", "city"], "data": []}}, "no rows"),
    ({"instances": []}, "no rows"),
    ({}, "exactly one of"),
    ([1, 2], "must be a JSON object"),
    ({"instances": [[1]], "inputs": [[1]]}, "exactly one of"),
    ({"instances": [[1, 2.0, "a"]], "params": {"k": 1}}, "takes no inference params"),
    ({"instances": [[1, 2.0]]}, "has 2 values; expected 3"),
    ({"dataframe_split": {"rows": []}}, "dataframe_split must be"),
    ({"inputs": {"age": [1, 2], "income": [1.0], "city": ["a"]}}, "same length"),
])
def test_malformed_payloads(body: object, needle: str) -> None:
    assert needle in str(err(body))


def test_v2_one_2d_tensor_in_signature_order() -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "BYTES",
                        "data": [[1, 2.0, "a"], [3, 4.0, "b"]]}]}
    cols, wanted = columns_from_v2(body, SCHEMA)
    assert cols == {"age": [1, 3], "income": [2.0, 4.0], "city": ["a", "b"]}
    assert wanted is None


def test_v2_one_1d_tensor_per_column() -> None:
    body = {"inputs": [{"name": "city", "shape": [1], "datatype": "BYTES", "data": ["a"]},
                       {"name": "age", "shape": [1], "datatype": "INT64", "data": [4]},
                       {"name": "income", "shape": [1], "datatype": "FP64", "data": [2.5]}],
            "outputs": [{"name": "predict"}]}
    cols, wanted = columns_from_v2(body, SCHEMA)
    assert list(cols) == ["age", "income", "city"] and wanted == ["predict"]


@pytest.mark.parametrize(("inputs", "needle"), [
    ([{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}], "needs [rows, 3]"),
    ([{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3]}], "needs 6 values"),
    ([{"name": "x", "shape": [1, 3], "datatype": "FP128", "data": [1, 2, 3]}], "datatype"),
    ([{"name": "age", "shape": [1], "datatype": "INT64", "data": [1]}], "missing column(s)"),
    ([], "at least one input"),
])
def test_v2_errors(inputs: list[object], needle: str) -> None:
    with pytest.raises(PayloadError) as info:
        columns_from_v2({"inputs": inputs}, SCHEMA)
    assert needle in str(info.value)


def test_schema_without_signature_uses_feature_count() -> None:
    schema = InputSchema.from_signature(None, n_features=2)
    assert schema.columns == ("f0", "f1")
    assert parse({"instances": [[1, 2]]}, schema)["f1"].tolist() == [2.0]
