"""Request and response schemas that the served app's OpenAPI document shows.

The handlers read raw bodies (to enforce size limits and give signature-aware
errors), so FastAPI cannot infer these; they are declared here once.
"""

from __future__ import annotations

from typing import Any

#: the request id grammar (X-Request-Id header, /feedback request_id)
REQUEST_ID = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "minLength": 1,
              "maxLength": 64}
_LABEL: dict[str, Any] = {"oneOf": [{"type": "number"}, {"type": "string"},
                                    {"type": "boolean"}, {"type": "null"},
                                    {"type": "array", "items": {
                                        "oneOf": [{"type": "number"}, {"type": "string"},
                                                  {"type": "boolean"}, {"type": "null"}]}}]}

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
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0},
                  "minItems": 1, "maxItems": 2},
        "datatype": {"type": "string", "enum": sorted(
            ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES"]), "example": "FP64"},
        "data": {"type": "array", "items": {}},
        "parameters": {"type": "object", "description": "binary_data_size (Triton's binary "
                                                        "tensor extension) when data is sent "
                                                        "as bytes after the JSON"},
    },
}

_V2_OUTPUT_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array", "items": {}},
        "parameters": {"type": "object"},
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
        "outputs": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "enum": ["predict", "predict_proba"]},
                "parameters": {"type": "object"}}}},
        "parameters": {"type": "object", "description": "binary_data_output: true answers "
                                                        "every output as binary data"},
    },
}

V2_RESPONSE = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {"type": "array", "items": _V2_OUTPUT_TENSOR},
    },
}

_FEEDBACK_ITEM = {"type": "object", "required": ["request_id", "label"],
                  "properties": {"request_id": REQUEST_ID, "label": _LABEL}}
FEEDBACK = {
    "oneOf": [
        {**_FEEDBACK_ITEM, "not": {"required": ["feedback"]}},
        {"type": "object", "required": ["feedback"], "properties": {"feedback": {
            "type": "array", "minItems": 1, "maxItems": 10_000, "items": _FEEDBACK_ITEM}}},
    ],
}


def body(schema: dict[str, Any], *, csv: bool = False) -> dict[str, Any]:
    """Return an ``openapi_extra`` with a JSON (and optionally CSV) request body."""
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string", "minLength": 1, "description":
                                          "a header row naming the columns, then one line "
                                          "per row"}}
    return {"requestBody": {"required": True, "content": content}}


def responses(ok: dict[str, Any], ok_status: int = 200) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI ``responses`` for a prediction route: the result and the error bodies."""
    err = {"content": {"application/json": {"schema": ERROR}}}
    return {
        ok_status: {"content": {"application/json": {"schema": ok}}},
        400: {"description": "Invalid payload (columns, dtypes, missing values, JSON)", **err},
        401: {"description": "Missing or wrong bearer token", **err},
        413: {"description": "Body or row count over the configured limit", **err},
        415: {"description": "Unsupported content type", **err},
    }


_ERR = {"content": {"application/json": {"schema": ERROR}}}
_PUBLIC = {"/health", "/ping", "/v2/health/live", "/v2/health/ready"}
_OK_BODIES: dict[str, dict[str, Any]] = {
    "/health": {"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string"}, "model": {"type": "string"},
        "version": {"type": "integer"}}},
    "/version": {"type": "object", "required": ["name", "version"]},
    "/v2": {"type": "object", "required": ["name", "version", "extensions"]},
    "/v2/health/live": {"type": "object", "required": ["live"],
                        "properties": {"live": {"type": "boolean"}}},
    "/v2/health/ready": {"type": "object", "required": ["ready"],
                         "properties": {"ready": {"type": "boolean"}}},
    "/v2/models/{model_name}": {"type": "object", "required": ["name", "versions", "inputs",
                                                                "outputs"]},
    "/v2/models/{model_name}/ready": {"type": "object", "required": ["name", "ready"]},
}
_TEXT = {"/metrics": "Prometheus text exposition format (text/plain; version=0.0.4)",
         "/ping": "A newline: the server is up (MLflow's probe)"}


def document(app: Any, *, secured: bool) -> dict[str, Any]:
    """Return the app's OpenAPI document as the server behaves: statuses, media types, auth."""
    if app.openapi_schema:
        return app.openapi_schema  # type: ignore[no-any-return]
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    doc.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    doc.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    if not doc.get("components", {}).get("schemas", True):
        doc["components"].pop("schemas")
    doc.setdefault("components", {})["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "Required when the server was started with --token / "
                       "NBMLOPS_SERVE_TOKEN (always when bound beyond loopback); "
                       "/health, /ping and /v2/health/* stay open."}}
    if secured:
        doc["security"] = [{"bearer": []}]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            _fix_operation(path, op, secured)
    app.openapi_schema = doc
    return doc


def _fix_operation(path: str, op: dict[str, Any], secured: bool) -> None:
    res = op.setdefault("responses", {})
    res.pop("422", None)
    ok = next((c for c in ("200", "202") if c in res), "200")
    if path in _TEXT:
        res[ok] = {"description": _TEXT[path],
                   "content": {"text/plain": {"schema": {"type": "string"}}}}
    elif path in _OK_BODIES:
        res[ok] = {"description": "Successful Response",
                   "content": {"application/json": {"schema": _OK_BODIES[path]}}}
    if "/v2/models/" in path:
        res["404"] = {"description": "This server serves another model or version", **_ERR}
    if path == "/feedback":
        res["404"] = {"description": "No prediction was answered with this request id", **_ERR}
        res["409"] = {"description": "Prediction logging is off on this server", **_ERR}
    if path.endswith("/infer"):
        res[ok]["content"]["application/octet-stream"] = {
            "schema": {"type": "string", "format": "binary"}}
    res["500"] = {"description": "Unexpected server or model failure", **_ERR}
    if path in _PUBLIC:
        op["security"] = []
        res.pop("401", None)
    elif secured:
        res["401"] = {"description": "Missing or wrong bearer token", **_ERR}
    else:
        res.pop("401", None)
    for code, r in res.items():
        r.setdefault("description", code)
