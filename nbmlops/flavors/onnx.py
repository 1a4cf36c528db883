"""ONNX models (``.onnx`` files or ``onnx.ModelProto``) run through onnxruntime.

Loading an ONNX file never executes Python: the graph is data, evaluated by onnxruntime's
built-in operators. This flavor is the second implementation of the flavor interface.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nbmlops.errors import MissingDependencyError, ValidationError
from nbmlops.flavors.base import BaseFlavor

#: ONNX tensor element types -> NumPy dtype names (the common ones)
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
           8: "str", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("onnx", "onnx") from exc
    return onnx


def _io_spec(values: Any) -> list[dict[str, Any]]:
    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
                 for d in t.shape.dim]
        out.append({"name": v.name, "dtype": _DTYPES.get(t.elem_type, str(t.elem_type)),
                    "shape": shape})
    return out


#: metadata_props key holding the DataFrame columns a single-tensor input was built from
COLUMNS_KEY = "nbmlops.columns"


def to_onnx(model: Any, X: Any, *, dtype: str = "float32") -> Any:
    """Return an ``onnx.ModelProto`` of a fitted scikit-learn model, its inputs mapped from ``X``.

    Parameters
    ----------
    model
        A fitted scikit-learn estimator or Pipeline.
    X
        Training data, or a few rows of it. A DataFrame whose columns are all numeric (and
        a model that does not pick columns by name) becomes one ``[None, n]`` tensor named
        ``input``, with the column order recorded so any DataFrame holding those columns can
        be fed; other DataFrames become one ``[None, 1]`` input per column, named after it
        (what a ColumnTransformer selecting columns by name needs); an array, one tensor.
    dtype
        ``"float32"`` (default) or ``"float64"`` for the float tensors.

    Raises
    ------
    ValidationError
        ``dtype`` is neither, or skl2onnx cannot convert the model (its message kept).
    """
    import json

    try:
        from skl2onnx import to_onnx as convert
    except ImportError as exc:
        raise MissingDependencyError("skl2onnx", "onnx") from exc
    from sklearn.base import BaseEstimator, is_classifier

    if not isinstance(model, BaseEstimator):
        raise ValidationError(f"to_onnx converts fitted scikit-learn models, got a "
                              f"{type(model).__module__}.{type(model).__name__}")
    types, columns = _initial_types(model, X, dtype)
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        proto = convert(model, initial_types=types, options=options,
                        target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception as exc:  # skl2onnx raises many types for what it cannot convert
        raise ValidationError(f"skl2onnx cannot convert this {type(model).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from exc
    if columns is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = COLUMNS_KEY, json.dumps(columns)
    return proto


def _initial_types(model: Any, X: Any, dtype: str) -> tuple[list[Any], list[str] | None]:
    """Return skl2onnx's initial_types for ``X``, and the columns of a single tensor input."""
    import numpy as np
    from skl2onnx.common import data_types as dt

    tensors = {"float32": dt.FloatTensorType, "float64": dt.DoubleTensorType}
    if dtype not in tensors:
        raise ValidationError(f"dtype {dtype!r} is not supported; use 'float32' or 'float64'")
    tensor = tensors[dtype]
    if not hasattr(X, "columns"):
        arr = np.asarray(X)
        return [("input", tensor([None, arr.shape[1] if arr.ndim == 2 else 1]))], None
    columns = [str(c) for c in X.columns]
    numeric = all(kind in "biuf" for kind in (X[c].dtype.kind for c in X.columns))
    if numeric and not _selects_columns_by_name(model):
        return [("input", tensor([None, len(columns)]))], columns
    types = []
    for name in X.columns:
        kind = X[name].dtype.kind
        if kind == "f":
            types.append((str(name), tensor([None, 1])))
        elif kind in "iu":
            types.append((str(name), dt.Int64TensorType([None, 1])))
        else:  # strings, categories, booleans, objects
            types.append((str(name), dt.StringTensorType([None, 1])))
    return types, None


def _selects_columns_by_name(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    parts = [model, *model.get_params(deep=True).values()] if hasattr(model, "get_params") \
        else [model]
    return any(isinstance(p, ColumnTransformer) for p in parts)


class OnnxModel:
    """A loaded ONNX model: ``predict(X)`` runs the graph with onnxruntime."""

    def __init__(self, data: bytes, inputs: list[dict[str, Any]],
                 outputs: list[dict[str, Any]], columns: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("onnxruntime", "onnx") from exc
        self.data = data
        self.inputs = inputs
        self.outputs = outputs
        self.columns = columns  # a single tensor input's DataFrame columns, in order
        self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def _feed(self, X: Any) -> dict[str, Any]:
        import numpy as np

        if len(self.inputs) == 1:
            spec = self.inputs[0]
            if self.columns and hasattr(X, "columns"):
                missing = [c for c in self.columns if c not in X.columns]
                if missing:
                    raise ValidationError(f"input is missing columns {missing} the ONNX model "
                                          f"needs (it takes {', '.join(self.columns)})")
                X = X[self.columns]
            arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            return {spec["name"]: arr.astype(spec["dtype"], copy=False)}
        if not hasattr(X, "columns"):
            names = ", ".join(i["name"] for i in self.inputs)
            raise ValidationError(f"this ONNX model takes several named inputs ({names}); "
                                  "pass a DataFrame with those columns")
        missing = [i["name"] for i in self.inputs if i["name"] not in X.columns]
        if missing:
            raise ValidationError(f"input is missing columns {missing} the ONNX model needs")
        return {i["name"]: _column(X[i["name"]], i["dtype"]) for i in self.inputs}

    def run(self, X: Any) -> dict[str, Any]:
        """Return every output of the graph for ``X`` as {output name: value}."""
        names = [o["name"] for o in self.outputs]
        return dict(zip(names, self.session.run(names, self._feed(X)), strict=True))

    def predict(self, X: Any) -> Any:
        """Return the graph's first output (labels for converted classifiers)."""
        import numpy as np

        first = self.session.run([self.outputs[0]["name"]], self._feed(X))[0]
        arr = np.asarray(first)
        return arr.ravel() if arr.ndim == 2 and arr.shape[1] == 1 else arr

    def __repr__(self) -> str:
        ins = ", ".join(f"{i['name']}:{i['dtype']}{i['shape']}" for i in self.inputs)
        return f"<OnnxModel inputs=[{ins}] outputs={[o['name'] for o in self.outputs]}>"


def _column(values: Any, dtype: str) -> Any:
    """Return one DataFrame column as the ``[n, 1]`` array an ONNX input of ``dtype`` takes."""
    import numpy as np

    if dtype == "str":  # onnxruntime takes strings as an object array
        return np.asarray(values.astype(str).to_numpy(), dtype=object).reshape(-1, 1)
    return values.to_numpy().astype(dtype).reshape(-1, 1)


def _columns(proto: Any) -> list[str] | None:
    import json

    for entry in proto.metadata_props:
        if entry.key == COLUMNS_KEY:
            return list(json.loads(entry.value))
    return None


class OnnxFlavor(BaseFlavor):
    """``.onnx`` files, ``onnx.ModelProto`` objects and loaded OnnxModels."""

    name = "onnx"
    media_type = "application/onnx"

    def can_save(self, model: Any) -> bool:
        """Return whether ``model`` is an ONNX file path, ModelProto or OnnxModel."""
        if isinstance(model, OnnxModel):
            return True
        if isinstance(model, (str, os.PathLike)):
            return str(model).endswith(".onnx") and Path(model).is_file()
        return type(model).__module__.startswith("onnx") and type(model).__name__ == "ModelProto"

    def _bytes(self, model: Any) -> bytes:
        if isinstance(model, OnnxModel):
            return model.data
        if isinstance(model, (str, os.PathLike)):
            return Path(model).read_bytes()
        return model.SerializeToString()  # type: ignore[no-any-return]

    def _parse(self, data: bytes) -> Any:
        onnx = _onnx()
        try:
            proto = onnx.load_model_from_string(data)
            onnx.checker.check_model(proto)
        except Exception as exc:
            raise ValidationError(f"not a valid ONNX model: {exc}") from exc
        return proto

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        """Return the ONNX bytes (checked) and the graph's inputs, outputs and opsets."""
        data = self._bytes(model)
        proto = self._parse(data)
        columns = _columns(proto)
        return data, {
            **({"columns": columns} if columns else {}),
            "flavor": self.name,
            "class": "onnx.ModelProto",
            "inputs": _io_spec(proto.graph.input),
            "outputs": _io_spec(proto.graph.output),
            "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
            "flavor_signature": self._signature_of(_io_spec(proto.graph.input), columns),
        }

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> OnnxModel:
        """Return an OnnxModel running ``data`` with onnxruntime."""
        proto = self._parse(data)
        return OnnxModel(data, meta.get("inputs") or _io_spec(proto.graph.input),
                         meta.get("outputs") or _io_spec(proto.graph.output),
                         meta.get("columns") or _columns(proto))

    def signature(self, model: Any) -> dict[str, Any] | None:
        """Return the signature declared by the graph's inputs."""
        proto = self._parse(self._bytes(model))
        return self._signature_of(_io_spec(proto.graph.input), _columns(proto))

    @staticmethod
    def _signature_of(inputs: list[dict[str, Any]],
                      columns: list[str] | None = None) -> dict[str, Any]:
        if len(inputs) == 1 and len(inputs[0]["shape"]) == 2 and \
                isinstance(inputs[0]["shape"][1], int):
            n = inputs[0]["shape"][1]
            if columns and len(columns) == n:
                return {"kind": "dataframe", "columns": columns,
                        "dtypes": [inputs[0]["dtype"]] * n}
            return {"kind": "ndarray", "columns": [f"f{i}" for i in range(n)],
                    "dtypes": [inputs[0]["dtype"]] * n}
        return {"kind": "dataframe", "columns": [i["name"] for i in inputs],
                "dtypes": [i["dtype"] for i in inputs]}
