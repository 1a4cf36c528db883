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


class OnnxModel:
    """A loaded ONNX model: ``predict(X)`` runs the graph with onnxruntime."""

    def __init__(self, data: bytes, inputs: list[dict[str, Any]],
                 outputs: list[dict[str, Any]]) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("onnxruntime", "onnx") from exc
        self.data = data
        self.inputs = inputs
        self.outputs = outputs
        self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])

    def _feed(self, X: Any) -> dict[str, Any]:
        import numpy as np

        if len(self.inputs) == 1:
            spec = self.inputs[0]
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
        return {i["name"]: X[i["name"]].to_numpy().astype(i["dtype"]).reshape(-1, 1)
                for i in self.inputs}

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
        return data, {
            "flavor": self.name,
            "class": "onnx.ModelProto",
            "inputs": _io_spec(proto.graph.input),
            "outputs": _io_spec(proto.graph.output),
            "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
            "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
            "flavor_signature": self._signature_of(_io_spec(proto.graph.input)),
        }

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> OnnxModel:
        """Return an OnnxModel running ``data`` with onnxruntime."""
        proto = self._parse(data)
        return OnnxModel(data, meta.get("inputs") or _io_spec(proto.graph.input),
                         meta.get("outputs") or _io_spec(proto.graph.output))

    def signature(self, model: Any) -> dict[str, Any] | None:
        """Return the signature declared by the graph's inputs."""
        proto = self._parse(self._bytes(model))
        return self._signature_of(_io_spec(proto.graph.input))

    @staticmethod
    def _signature_of(inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if len(inputs) == 1 and len(inputs[0]["shape"]) == 2 and \
                isinstance(inputs[0]["shape"][1], int):
            n = inputs[0]["shape"][1]
            return {"kind": "ndarray", "columns": [f"f{i}" for i in range(n)],
                    "dtypes": [inputs[0]["dtype"]] * n}
        return {"kind": "dataframe", "columns": [i["name"] for i in inputs],
                "dtypes": [i["dtype"] for i in inputs]}
