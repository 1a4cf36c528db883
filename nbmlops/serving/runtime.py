"""Prediction runtimes: scikit-learn as loaded, or onnxruntime when it provably agrees.

``--runtime onnx`` converts the model with skl2onnx and refuses to serve it unless
its predictions equal scikit-learn's on the version's input example and a reference
sample; ``auto`` does the same but falls back to scikit-learn (saying why).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbmlops.errors import DeployError, ValidationError
from nbmlops.serving.validation import Batch, InputSchema

log = logging.getLogger("nbmlops.serving")

RUNTIMES = ("auto", "onnx", "sklearn")
#: probabilities from onnxruntime may differ from scikit-learn's by float rounding only
PROBA_ATOL = 1e-5


@dataclass
class Outputs:
    """Predictions for a batch (and class probabilities when asked and available)."""

    predictions: np.ndarray
    probabilities: np.ndarray | None = None


class BaseRuntime:
    """Turns validated column arrays into predictions; implementers must be thread-safe."""

    name = "base"
    classes: list[Any] | None = None

    def predict(self, arrays: dict[str, np.ndarray], *, proba: bool = False) -> Outputs:
        """Return predictions (and probabilities if ``proba`` and the model is a classifier)."""
        raise NotImplementedError


def _is_classifier(model: Any) -> bool:
    return hasattr(model, "classes_") and hasattr(model, "predict_proba")


#: attributes of composite estimators (Pipeline, ColumnTransformer, FeatureUnion, meta-
#: estimators) whose ``allow_nan`` tag does not say what the whole does with a NaN
_COMPOSITE = ("steps", "transformers", "transformer_list", "estimator", "estimators")


def model_allows_nan(model: Any) -> bool:
    """Return whether serving lets missing values through to the model.

    False only when the model is known to refuse them: a plain scikit-learn estimator
    whose ``allow_nan`` tag is False. A composite (a Pipeline with a SimpleImputer, a
    ColumnTransformer…) or a non-scikit-learn model cannot be judged from its tags, so
    the model decides, and a refusal becomes a 400 (``predict.py``).
    """
    try:
        from sklearn.utils import get_tags

        if bool(get_tags(model).input_tags.allow_nan):
            return True
    except Exception:  # not a scikit-learn estimator: its own code decides
        return True
    return any(hasattr(model, a) for a in _COMPOSITE)


class SklearnRuntime(BaseRuntime):
    """Calls the scikit-learn model itself, with a DataFrame when it was fitted on one."""

    name = "sklearn"

    def __init__(self, model: Any, schema: InputSchema) -> None:
        self.model = model
        self.frame = hasattr(model, "feature_names_in_") or any(
            k in "sob" for k in schema.kinds)
        self.classes = model.classes_.tolist() if _is_classifier(model) else None

    def _x(self, arrays: dict[str, np.ndarray]) -> Any:
        if self.frame:
            import pandas as pd

            return pd.DataFrame(arrays, copy=False)
        return np.column_stack(list(arrays.values()))

    def predict(self, arrays: dict[str, np.ndarray], *, proba: bool = False) -> Outputs:
        """Return the model's predict (and predict_proba) on the batch."""
        x = self._x(arrays)
        preds = np.asarray(self.model.predict(x))
        probs = None
        if proba and self.classes is not None:
            probs = np.asarray(self.model.predict_proba(x), dtype=np.float64)
        return Outputs(preds, probs)


class OnnxRuntime(BaseRuntime):
    """Runs a skl2onnx conversion of the model in onnxruntime (one thread per session)."""

    name = "onnx"

    def __init__(self, onnx_bytes: bytes, dtype: Any, classes: list[Any] | None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # One thread: single-row latency is dominated by dispatch, and workers scale out.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.dtype = dtype
        self.classes = classes

    def predict(self, arrays: dict[str, np.ndarray], *, proba: bool = False) -> Outputs:
        """Return predictions (and probabilities) computed by onnxruntime."""
        x = np.column_stack(list(arrays.values())).astype(self.dtype, copy=False)
        if self.classes is None:
            out = np.asarray(self.session.run(self.output_names[:1], {self.input_name: x})[0])
            return Outputs(out[:, 0] if out.ndim == 2 and out.shape[1] == 1 else out)
        names = self.output_names[:2] if proba else self.output_names[:1]
        res = self.session.run(names, {self.input_name: x})
        return Outputs(np.asarray(res[0]),
                       np.asarray(res[1], dtype=np.float64) if proba else None)


def convert_to_onnx(model: Any, n_features: int) -> tuple[bytes, Any]:
    """Return (ONNX bytes, input dtype) for a scikit-learn model; raise DeployError if it cannot."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError as exc:
        raise DeployError("the onnx runtime needs skl2onnx and onnxruntime: "
                          "pip install 'nbmlops[onnx]'") from exc
    errors = []
    # float64 first: it reproduces scikit-learn exactly where the ONNX ops support it
    for tensor, dtype in ((DoubleTensorType, np.float64), (FloatTensorType, np.float32)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                onx = to_onnx(model, initial_types=[("input", tensor([None, n_features]))],
                              options={"zipmap": False},
                              target_opset={"": 17, "ai.onnx.ml": 3})
            return onx.SerializeToString(), dtype
        except Exception as exc:  # skl2onnx raises many types for unsupported models
            errors.append(f"{dtype.__name__}: {exc}")
    raise DeployError(f"skl2onnx cannot convert this {type(model).__name__}: "
                      + "; ".join(e.splitlines()[0] for e in errors))


def compare(reference: BaseRuntime, candidate: BaseRuntime, samples: list[Batch]) -> str | None:
    """Return None when both runtimes agree on every sample, else what differed."""
    for batch in samples:
        want = reference.predict(batch.arrays, proba=True)
        got = candidate.predict(batch.arrays, proba=True)
        wp, gp = np.asarray(want.predictions), np.asarray(got.predictions)
        if wp.shape != gp.shape:
            return f"prediction shapes differ: {wp.shape} vs {gp.shape}"
        if reference.classes is not None:
            same = np.array_equal(wp.astype(str), gp.astype(str))
        else:
            same = np.allclose(wp.astype(float), gp.astype(float), rtol=1e-5, atol=1e-6)
        if not same:
            idx = np.flatnonzero(wp.astype(str) != gp.astype(str))
            row = int(idx[0]) if idx.size else 0
            return (f"predictions differ on {max(idx.size, 1)} of {len(wp)} rows "
                    f"(row {row}: {wp[row]!r} vs {gp[row]!r})")
        if want.probabilities is not None and got.probabilities is not None and not np.allclose(
                want.probabilities, got.probabilities, atol=PROBA_ATOL):
            diff = float(np.abs(want.probabilities - got.probabilities).max())
            return f"probabilities differ by up to {diff:.2e}"
    return None


def build_runtime(model: Any, schema: InputSchema, mode: str,
                  samples: list[Batch]) -> tuple[BaseRuntime, str]:
    """Return (runtime, why it was chosen) for ``mode`` in auto, onnx, sklearn."""
    if mode not in RUNTIMES:
        raise ValidationError(f"unknown runtime {mode!r}; use one of {', '.join(RUNTIMES)}")
    sk = SklearnRuntime(model, schema)
    if mode == "sklearn":
        return sk, "scikit-learn (requested)"
    try:
        onnx = _onnx_for(model, schema, sk)
        checked = sum(b.n_rows for b in samples)
        if not samples:
            raise DeployError("no input example or reference data to check ONNX predictions on")
        problem = compare(sk, onnx, samples)
        if problem:
            raise DeployError(f"onnxruntime disagrees with scikit-learn: {problem}")
        return onnx, f"onnxruntime (predictions equal scikit-learn's on {checked} rows)"
    except DeployError as exc:
        if mode == "onnx":
            raise
        log.warning("serving with scikit-learn: %s", exc)
        return sk, f"scikit-learn ({exc})"


def _onnx_for(model: Any, schema: InputSchema, sk: SklearnRuntime) -> OnnxRuntime:
    if schema.columns is None:
        raise DeployError("the model has no recorded signature, so its inputs are unknown")
    if any(k not in "fin" for k in schema.kinds):
        raise DeployError("only all-numeric inputs are converted to ONNX")
    data, dtype = convert_to_onnx(model, len(schema.columns))
    try:
        return OnnxRuntime(data, dtype, sk.classes)
    except Exception as exc:  # onnxruntime rejects some converted graphs
        raise DeployError(f"onnxruntime cannot load the converted model: {exc}") from exc
