"""Request and response schemas that the served app's OpenAPI document shows.

The handlers read raw bodies (to enforce size limits and give signature-aware
errors), so FastAPI cannot infer these; they are declared here once.
"""

from __future__ import annotations

from typing import Any

_SCALAR: dict[str, Any] = {"oneOf": [{"type": "number"}, {"type": "string"},
                                     {"type": "boolean"}, {"type": "null"}]}
_ROW = {"type": "array", "items": _SCALAR}
_RECORD = {"type": "object", "additionalProperties": _SCALAR}
_TENSORISH = {"oneOf": [{"type": "array", "items": _ROW}, {"type": "array", "items": _RECORD},
                        {"type": "object", "additionalProperties": {"type": "array",
                                                                    "items": _SCALAR}}]}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What was wrong and what to do."},
        "error_code": {"type": "string", "example": "BAD_REQUEST"},
        "message": {"type": "string", "description": "Same as error (MLflow clients read it)."},
        "expected": {"type": "object", "description": "Columns, dtypes and an example payload."},
    },
}

INVOCATIONS = {
    "oneOf": [
        {"type": "object", "required": ["dataframe_split"], "properties": {"dataframe_split": {
            "type": "object", "required": ["data"], "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": _ROW}}}}},
        {"type": "object", "required": ["dataframe_records"],
         "properties": {"dataframe_records": {"type": "array", "items": _RECORD}}},
        {"type": "object", "required": ["instances"], "properties": {"instances": _TENSORISH}},
        {"type": "object", "required": ["inputs"], "properties": {"inputs": _TENSORISH}},
    ],
}

PREDICTIONS = {
    "type": "object",
    "properties": {
        "predictions": {"type": "array", "items": _SCALAR},
        "probabilities": {"type": "array", "items": {"type": "array",
                                                     "items": {"type": "number"}},
                          "description": "Only with ?probabilities=true, for classifiers."},
    },
}

_V2_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string", "example": "FP64"},
        "data": {"type": "array", "items": {}},
    },
}

V2_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _V2_TENSOR,
                   "description": "One 2-D tensor [rows, columns] in signature order, or one "
                                  "1-D tensor per column named as the column."},
        "outputs": {"type": "array", "items": {"type": "object",
                                               "properties": {"name": {"type": "string"}}}},
    },
}

V2_RESPONSE = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {"type": "array", "items": _V2_TENSOR},
    },
}

FEEDBACK = {
    "oneOf": [
        {"type": "object", "required": ["request_id", "label"],
         "properties": {"request_id": {"type": "string"}, "label": {}}},
        {"type": "object", "required": ["feedback"], "properties": {"feedback": {
            "type": "array", "items": {"type": "object", "required": ["request_id", "label"],
                                       "properties": {"request_id": {"type": "string"},
                                                      "label": {}}}}}},
    ],
}


def body(schema: dict[str, Any], *, csv: bool = False) -> dict[str, Any]:
    """Return an ``openapi_extra`` with a JSON (and optionally CSV) request body."""
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


def responses(ok: dict[str, Any], ok_status: int = 200) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI ``responses`` for a prediction route: the result and the error bodies."""
    err = {"content": {"application/json": {"schema": ERROR}}}
    return {
        ok_status: {"content": {"application/json": {"schema": ok}}},
        400: {"description": "Invalid payload (columns, dtypes, missing values, JSON)", **err},
        401: {"description": "Missing or wrong bearer token", **err},
        413: {"description": "Body larger than the configured limit", **err},
        415: {"description": "Unsupported content type", **err},
    }
