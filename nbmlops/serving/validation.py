"""Turn MLflow, KServe V2 and CSV payloads into validated columns, against a model's signature.

Every problem raises :class:`PayloadError` with an HTTP status, a message that says
what was wrong and what was expected, and an example payload built from the version's
input example — so a client author can fix the request from the error alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbmlops.errors import PayloadError as PayloadError  # re-exported: raised here

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
V2_DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
                "FP16", "FP32", "FP64", "BYTES"}
_NUM = (int, float)


def dtype_kind(dtype: str) -> str:
    """Return the value kind a signature dtype takes: f, i, b, s (strings), o (any), n (number)."""
    d = dtype.lower()
    if not d:
        return "n"
    if d.startswith(("float", "double")):
        return "f"
    if d.startswith(("int", "uint")):
        return "i"
    if d in ("bool", "boolean"):
        return "b"
    if d == "object":
        return "o"
    return "s"  # str, string, category, datetime64 (ISO strings)


_KIND_WORDS = {"f": "numbers", "i": "integers", "b": "booleans (true/false)", "s": "strings",
               "o": "scalars", "n": "numbers"}
_KIND_TYPES: dict[str, tuple[type, ...]] = {"f": _NUM, "n": _NUM, "i": (int, float),
                                            "b": (bool,), "s": (str,), "o": (str, int, float, bool)}


@dataclass(frozen=True)
class InputSchema:
    """The columns a model takes, their dtypes, and whether it accepts missing values."""

    columns: tuple[str, ...] | None
    dtypes: tuple[str, ...] = ()
    allow_nan: bool = False
    example: list[dict[str, Any]] | None = None
    kinds: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.columns or ())
        dtypes = tuple(self.dtypes) if len(self.dtypes) == n else ("",) * n
        object.__setattr__(self, "dtypes", dtypes)
        object.__setattr__(self, "kinds", tuple(dtype_kind(d) for d in dtypes))

    @classmethod
    def from_signature(cls, signature: dict[str, Any] | None, *, n_features: int | None = None,
                       allow_nan: bool = False,
                       example: list[dict[str, Any]] | None = None) -> InputSchema:
        """Return the schema of a recorded signature (or ``f0..fN`` when only a width is known)."""
        if signature and signature.get("columns"):
            return cls(tuple(signature["columns"]), tuple(signature.get("dtypes") or ()),
                       allow_nan, example)
        if n_features:
            return cls(tuple(f"f{i}" for i in range(n_features)), (), allow_nan, example)
        return cls(None, (), allow_nan, example)

    def expected(self) -> dict[str, Any]:
        """Return a JSON description of what the model takes, with an example payload."""
        out: dict[str, Any] = {}
        if self.columns is not None:
            out["columns"] = list(self.columns)
            out["dtypes"] = [d or "number" for d in self.dtypes]
            out["missing_values"] = "allowed" if self.allow_nan else "not allowed"
        if self.example:
            row = self.example[0]
            cols = list(self.columns or row)
            out["example"] = {"dataframe_split": {"columns": cols,
                                                  "data": [[row.get(c) for c in cols]]}}
        return out

    def error(self, message: str, status: int = 400, code: str = "BAD_REQUEST") -> PayloadError:
        """Return a PayloadError that carries this schema's expectations."""
        return PayloadError(message, status=status, code=code, expected=self.expected())


@dataclass
class Batch:
    """Validated input: raw JSON columns (for logging) and typed arrays in signature order."""

    raw: dict[str, list[Any]]
    arrays: dict[str, np.ndarray]
    n_rows: int
    missing: bool = False  # some value is null/NaN (only possible when the schema allows it)


# --------------------------------------------------------------------------- MLflow
def columns_from_mlflow(body: Any, schema: InputSchema) -> dict[str, list[Any]]:
    """Return {column: values} from an MLflow scoring payload."""
    if not isinstance(body, dict):
        raise schema.error(f"the body must be a JSON object with one of {', '.join(MLFLOW_KEYS)}; "
                           f"got a JSON {_json_type(body)}")
    keys = [k for k in MLFLOW_KEYS if k in body]
    extra = sorted(set(body) - set(MLFLOW_KEYS) - {"params"})
    if len(keys) != 1 or extra:
        got = ", ".join(short_repr(k, 40) for k in sorted(body)[:10]) or "no keys"
        raise schema.error(f"the body must have exactly one of {', '.join(MLFLOW_KEYS)} "
                           f"(and optionally params); got {got}")
    if body.get("params"):
        raise schema.error("this model takes no inference params; remove 'params'")
    key = keys[0]
    value = body[key]
    if key == "dataframe_split":
        return _from_split(value, schema)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise schema.error("dataframe_records must be a list of {column: value} objects")
        return _from_records(value, schema, key)
    return _from_tensor_like(value, schema, key)


def _from_split(value: Any, schema: InputSchema) -> dict[str, list[Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise schema.error('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
    cols = value.get("columns")
    if "columns" in value and (not isinstance(cols, list)
                               or not all(isinstance(c, str) for c in cols)):
        raise schema.error("dataframe_split.columns must be a list of column names")
    return _from_rows(value["data"], schema, "dataframe_split.data", cols)


def _from_tensor_like(value: Any, schema: InputSchema, key: str) -> dict[str, list[Any]]:
    if isinstance(value, dict):  # columnar: {"a": [1, 2], "b": [3, 4]}
        lengths = {len(v) if isinstance(v, list) else -1 for v in value.values()}
        if -1 in lengths or len(lengths) > 1:
            raise schema.error(f"{key} as an object must map each column to a list of values, "
                               "all of the same length")
        return _check_names(dict(value), schema)
    if not isinstance(value, list):
        raise schema.error(f"{key} must be a list of rows, a list of records or an object of "
                           f"columns; got a JSON {_json_type(value)}")
    if value and all(isinstance(r, dict) for r in value):
        return _from_records(value, schema, key)
    return _from_rows(value, schema, key, None)


def _from_rows(rows: list[Any], schema: InputSchema, where: str,
               columns: list[str] | None) -> dict[str, list[Any]]:
    cols = columns if columns is not None else list(schema.columns or ())
    if columns is None and schema.columns is None:
        raise schema.error(f"{where} gives rows without column names and this model has no "
                           "recorded signature; send dataframe_records or dataframe_split with "
                           "columns")
    width = len(cols)
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise schema.error(f"{where}[{i}] must be a list of {width} values; got a JSON "
                               f"{_json_type(row)}")
        if len(row) != width:
            raise schema.error(f"{where}[{i}] has {len(row)} values; expected {width} "
                               f"({', '.join(cols)})")
    data = [list(c) for c in zip(*rows, strict=False)] if rows else [[] for _ in cols]
    return _check_names(dict(zip(cols, data, strict=False)), schema)


def _from_records(records: list[Any], schema: InputSchema, where: str) -> dict[str, list[Any]]:
    if not records:
        raise schema.error(f"{where} is empty; send at least one row")
    first = records[0]
    if not isinstance(first, dict):
        raise schema.error(f"{where}[0] must be an object of column: value")
    names = list(schema.columns) if schema.columns is not None else list(first)
    _check_names(dict.fromkeys(first), schema)
    out: dict[str, list[Any]] = {c: [] for c in names}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise schema.error(f"{where}[{i}] must be an object of column: value")
        if len(rec) != len(names) or any(c not in rec for c in names):
            _check_names(dict.fromkeys(rec), schema, where=f"{where}[{i}]")
            raise schema.error(f"{where}[{i}] has columns {', '.join(rec)}; {where}[0] has "
                               f"{', '.join(names)}; every record needs the same columns")
        for c in names:
            out[c].append(rec[c])
    return out


def _check_names(columns: dict[str, Any], schema: InputSchema,
                 where: str = "the payload") -> dict[str, Any]:
    if schema.columns is None:
        return columns
    expected = schema.columns
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in set(expected)]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if unknown:
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            parts.append(f"unknown column(s) {', '.join(map(short_repr, unknown[:10]))}{more}")
        raise schema.error(f"{where} has {' and '.join(parts)}; the model takes "
                           f"{', '.join(expected)}")
    return {c: columns[c] for c in expected}


# --------------------------------------------------------------------------- KServe V2
def columns_from_v2(body: Any,
                    schema: InputSchema) -> tuple[dict[str, list[Any]], list[str] | None]:
    """Return ({column: values}, requested output names) from a V2 inference request."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise schema.error('a V2 request must be {"inputs": [{"name", "shape", "datatype", '
                           '"data"}, ...]} with at least one input')
    tensors = [_v2_tensor(t, i, schema) for i, t in enumerate(body["inputs"])]
    outputs = body.get("outputs")
    wanted = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(
                o.get("name"), str) for o in outputs):
            raise schema.error('"outputs" must be a list of {"name": ...} objects')
        if not outputs:
            raise schema.error('"outputs" is empty; name at least one output, or leave '
                               '"outputs" out to get them all')
        wanted = [o["name"] for o in outputs]
    if len(tensors) == 1 and len(tensors[0][1]) == 2:
        name, shape, data = tensors[0]
        width = len(schema.columns) if schema.columns is not None else None
        if width is not None and shape[1] != width:
            raise schema.error(f"input {short_repr(name)} has shape {shape}; a 2-D input needs "
                               f"[rows, {width}] with columns in signature order "
                               f"({', '.join(schema.columns or ())})")
        if schema.columns is None:
            raise schema.error("this model has no recorded signature; send one 1-D input per "
                               "column, named as the column")
        cols = {c: data[j::shape[1]] for j, c in enumerate(schema.columns)}
        return cols, wanted
    cols = {}
    for name, shape, data in tensors:
        if len(shape) != 1:
            raise schema.error(f"input {short_repr(name)} has shape {shape}; send either one "
                               "2-D input or one 1-D input per column")
        cols[name] = data
    if len({len(v) for v in cols.values()}) > 1:
        raise schema.error("the 1-D inputs have different lengths; every column needs one "
                           "value per row")
    return _check_names(cols, schema, "the request"), wanted


def _v2_tensor(t: Any, i: int, schema: InputSchema) -> tuple[str, list[int], list[Any]]:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
        raise schema.error(f"inputs[{i}] must be an object with name, shape, datatype and data")
    name, shape, datatype = t["name"], t.get("shape"), t.get("datatype")
    label = short_repr(name)
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape) \
            or not 1 <= len(shape) <= 2:
        raise schema.error(f"input {label}: shape must be [rows] or [rows, columns] of "
                           f"non-negative integers; got {short_repr(shape)}")
    if not isinstance(datatype, str) or datatype not in V2_DATATYPES:
        raise schema.error(f"input {label}: datatype {short_repr(datatype)} is not one of "
                           f"{', '.join(sorted(V2_DATATYPES))}")
    data = _flatten(t.get("data"))
    if data is None:
        raise schema.error(f"input {label}: data must be a (nested) list of values")
    if len(data) != math.prod(shape):
        raise schema.error(f"input {label}: shape {shape} needs {math.prod(shape)} values; "
                           f"data has {len(data)}")
    return name, shape, data


def _flatten(data: Any) -> list[Any] | None:
    if not isinstance(data, list):
        return None
    if not data or not isinstance(data[0], list):
        return data if not any(isinstance(v, list) for v in data) else None
    out: list[Any] = []
    for part in data:
        flat = _flatten(part)
        if flat is None:
            return None
        out.extend(flat)
    return out


# --------------------------------------------------------------------------- CSV
def columns_from_csv(text: str, schema: InputSchema,
                     max_rows: int | None = None) -> dict[str, list[Any]]:
    """Return {column: values} from CSV text with a header row (as ``mlflow models serve``)."""
    import io

    import pandas as pd

    if not text.strip():
        raise schema.error("the CSV body is empty; send a header row and at least one row")
    try:  # read one row past the limit: enough to refuse with 413, no more
        frame = pd.read_csv(io.StringIO(text), nrows=None if max_rows is None else max_rows + 1)
    except Exception as exc:  # pandas raises many types for bad CSV
        raise schema.error(f"the CSV body could not be parsed: {exc}") from None
    cols = {str(c): frame[c].astype(object).where(frame[c].notna(), None).tolist()
            for c in frame.columns}
    return _check_names(cols, schema)


# --------------------------------------------------------------------------- values
def validate(columns: dict[str, list[Any]], schema: InputSchema) -> Batch:
    """Return a Batch of typed arrays, or raise PayloadError naming the bad column and row."""
    names = list(columns)
    n_rows = len(columns[names[0]]) if names else 0
    if n_rows == 0:
        raise schema.error("the payload has no rows; send at least one row")
    kinds = dict(zip(schema.columns or (), schema.kinds, strict=False))
    dtypes = dict(zip(schema.columns or (), schema.dtypes, strict=False))
    arrays = {c: _convert(c, columns[c], kinds.get(c, "n"), dtypes.get(c, ""), schema)
              for c in names}
    missing = schema.allow_nan and any(_has_missing(a) for a in arrays.values())
    return Batch(columns, arrays, n_rows, missing)


def _has_missing(arr: np.ndarray) -> bool:
    if arr.dtype.kind == "f":
        return bool(np.isnan(arr).any())
    if arr.dtype == object:
        return any(v is None or v != v for v in arr)
    return False


def _convert(name: str, values: list[Any], kind: str, dtype: str,
             schema: InputSchema) -> np.ndarray:
    types = set(map(type, values))
    allowed = _KIND_TYPES[kind]
    if bool in types and kind not in ("b", "o") or not types <= {*allowed, type(None)}:
        _raise_type(name, values, kind, dtype, schema)
    has_none = type(None) in types
    if has_none and not schema.allow_nan:
        row = next(i for i, v in enumerate(values) if v is None)
        raise schema.error(f"column {name!r} has a missing value (null) at row {row}; this model "
                           "cannot take missing values")
    if kind in ("s", "o", "b") and (kind != "b" or has_none):
        if has_none:  # NaN is what pandas and scikit-learn's imputers take as missing
            values = [np.nan if v is None else v for v in values]
        return np.asarray(values, dtype=object)
    if kind == "b":
        return np.asarray(values, dtype=bool)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (OverflowError, ValueError):
        _raise_type(name, values, kind, dtype, schema)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.argmin(finite))
        if np.isinf(arr[bad]):
            raise schema.error(f"column {name!r} has an infinite value at row {bad}")
        if not schema.allow_nan:
            raise schema.error(f"column {name!r} has NaN at row {bad}; this model cannot take "
                               "missing values")
    if kind == "i" and not has_none:
        if float in types and not np.array_equal(arr, np.round(arr)):
            _raise_type(name, values, kind, dtype, schema)
        try:
            if float in types:
                return arr.astype(np.int64)
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            raise schema.error(f"column {name!r} has an integer out of the int64 range") from None
    return arr


def _raise_type(name: str, values: list[Any], kind: str, dtype: str,
                schema: InputSchema) -> None:
    allowed = _KIND_TYPES[kind]
    for i, v in enumerate(values):
        wrong_bool = isinstance(v, bool) and kind not in ("b", "o")
        bad_int = kind == "i" and isinstance(v, float) and not (math.isfinite(v) and v.is_integer())
        if v is not None and (wrong_bool or not isinstance(v, allowed) or bad_int
                              or isinstance(v, int) and abs(v) >= 2**63):
            expect = f"{_KIND_WORDS[kind]}" + (f" ({dtype})" if dtype else "")
            raise schema.error(f"column {name!r} expects {expect}; row {i} has "
                               f"{short_repr(v)} ({_json_type(v)})")
    raise schema.error(f"column {name!r} has values of the wrong type")


def short_repr(value: Any, limit: int = 80) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters (error messages echo client input)."""
    text = repr(value) if not isinstance(value, (list, dict)) or len(value) < limit else \
        f"<a JSON {_json_type(value)} of {len(value)} items>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_rows(n_rows: int, max_rows: int | None) -> None:
    """Raise a 413 PayloadError when a request holds more than ``max_rows`` rows."""
    if max_rows is not None and n_rows > max_rows:
        raise PayloadError(f"the request has {n_rows} rows; the limit is {max_rows} rows per "
                           "request: send fewer rows per request or raise --max-rows",
                           status=413, code="PAYLOAD_TOO_LARGE")


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
