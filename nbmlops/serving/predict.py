"""The prediction request path: read, parse, validate, predict, serialise, log.

Each step is timed; the split goes back in a ``Server-Timing`` header
(``parse``, ``predict``, ``serialize``, in milliseconds), which ``%deploy --dry-run``
reports.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from nbmlops.serving._http import (
    dumps,
    error_response,
    json_response,
    media_type,
    parse_json,
    read_body,
    request_id,
)
from nbmlops.serving.runtime import Outputs
from nbmlops.serving.validation import (
    Batch,
    PayloadError,
    columns_from_csv,
    columns_from_mlflow,
    columns_from_v2,
    validate,
)

if TYPE_CHECKING:
    from nbmlops.serving.batching import MicroBatcher
    from nbmlops.serving.logging import PredictionLogger
    from nbmlops.serving.metrics import ServingMetrics
    from nbmlops.serving.service import LoadedModel, ModelService

log = logging.getLogger("nbmlops.serving")

_JSON_TYPES = ("application/json",)


def v2_datatype(dtype: str | np.dtype[Any]) -> str:
    """Return the V2 datatype name of a numpy/pandas dtype."""
    d = str(dtype).lower()
    for prefix, name in (("float32", "FP32"), ("float16", "FP16"), ("float", "FP64"),
                         ("uint", "UINT64"), ("int32", "INT32"), ("int", "INT64"),
                         ("bool", "BOOL")):
        if d.startswith(prefix):
            return name
    return "FP64" if d == "" else "BYTES"


class Predictor:
    """Runs requests against the service's current model, with logging and metrics."""

    def __init__(self, service: ModelService, metrics: ServingMetrics,
                 logger: PredictionLogger | None, batcher: MicroBatcher, batching: str) -> None:
        self.service, self.metrics, self.logger = service, metrics, logger
        self.batcher, self.batching = batcher, batching

    async def _predict(self, model: LoadedModel, batch: Batch, proba: bool) -> Outputs:
        # measured (benchmarks/bench_serving.py): +20-35% throughput with onnxruntime and
        # 2-4x with scikit-learn under 8 concurrent clients, same single-row p50
        if self.batching == "on":
            return await self.batcher.predict(model, batch, proba)
        return model.runtime.predict(batch.arrays, proba=proba)

    async def mlflow(self, request: Request, limit: int) -> Response:
        """Answer ``POST /invocations``."""
        t0 = time.perf_counter()
        model = self.service.current
        rid = request_id(request)
        headers = {"X-Request-Id": rid, "X-Model-Version": str(model.version)}
        try:
            mtype = media_type(request)
            if mtype not in _JSON_TYPES and mtype != "text/csv":
                raise PayloadError(
                    f"unsupported content type {mtype or '(none)'!r}; send application/json "
                    "(MLflow payloads) or text/csv — with curl add "
                    "-H 'Content-Type: application/json'", status=415,
                    code="UNSUPPORTED_MEDIA_TYPE", expected=model.schema.expected())
            body = await read_body(request, limit)
            if mtype == "text/csv":
                cols = columns_from_csv(_text(body), model.schema)
            else:
                cols = columns_from_mlflow(parse_json(body), model.schema)
            batch = validate(cols, model.schema)
        except PayloadError as exc:
            return error_response(exc, headers)
        proba = request.query_params.get("probabilities") in ("true", "1")
        t1 = time.perf_counter()
        out = await self._safe_predict(model, batch, proba)
        if isinstance(out, Response):
            return out
        t2 = time.perf_counter()
        result: dict[str, Any] = {"predictions": out.predictions.tolist()}
        if proba and out.probabilities is not None:
            result["probabilities"] = out.probabilities.tolist()
        raw = dumps(result)
        return self._finish(model, batch, result, raw, headers, (t0, t1, t2), "/invocations")

    async def v2(self, request: Request, model: LoadedModel, limit: int) -> Response:
        """Answer ``POST /v2/models/{name}/infer``."""
        t0 = time.perf_counter()
        rid = request_id(request)
        headers = {"X-Request-Id": rid, "X-Model-Version": str(model.version)}
        try:
            if media_type(request) not in _JSON_TYPES:
                raise PayloadError("send Content-Type: application/json", status=415,
                                   code="UNSUPPORTED_MEDIA_TYPE")
            body = parse_json(await read_body(request, limit))
            cols, wanted = columns_from_v2(body, model.schema)
            batch = validate(cols, model.schema)
            names = _v2_outputs(model, wanted)
        except PayloadError as exc:
            return error_response(exc, headers)
        t1 = time.perf_counter()
        out = await self._safe_predict(model, batch, "predict_proba" in names)
        if isinstance(out, Response):
            return out
        t2 = time.perf_counter()
        result: dict[str, Any] = {"model_name": model.name, "model_version": str(model.version),
                  "id": body.get("id") if isinstance(body.get("id"), str) else rid,
                  "outputs": _v2_tensors(out, names)}
        raw = dumps(result)
        logged = {"predictions": result["outputs"][0]["data"]} if names[0] == "predict" else {}
        return self._finish(model, batch, logged, raw, headers, (t0, t1, t2), "/v2/infer")

    async def _safe_predict(self, model: LoadedModel, batch: Batch,
                            proba: bool) -> Outputs | Response:
        try:
            return await self._predict(model, batch, proba)
        except Exception as exc:  # the model raised: report it, keep the server up
            log.exception("prediction failed on %s/%s", model.name, model.version)
            msg = f"the model failed to predict: {type(exc).__name__}: {exc}"
            return json_response({"error": msg, "error_code": "INTERNAL_ERROR",
                                  "message": msg}, 500)

    def _finish(self, model: LoadedModel, batch: Batch, logged: dict[str, Any], raw: bytes,
                headers: dict[str, str], marks: tuple[float, float, float],
                endpoint: str) -> Response:
        t0, t1, t2 = marks
        t3 = time.perf_counter()
        headers["Server-Timing"] = (f"parse;dur={(t1 - t0) * 1e3:.3f}, "
                                    f"predict;dur={(t2 - t1) * 1e3:.3f}, "
                                    f"serialize;dur={(t3 - t2) * 1e3:.3f}")
        self.metrics.predictions.labels(str(model.version)).inc(batch.n_rows)
        if self.logger is not None:
            self.logger.log((headers["X-Request-Id"], time.time(), model.version, batch.raw,
                             logged, (t3 - t0) * 1e3, endpoint, batch.n_rows))
        return json_response(None, 200, headers, raw=raw)


def _text(body: bytes) -> str:
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text") from None


def _v2_outputs(model: LoadedModel, wanted: list[str] | None) -> list[str]:
    available = ["predict"] + (["predict_proba"] if model.runtime.classes is not None else [])
    if wanted is None:
        return available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise PayloadError(f"unknown output(s) {', '.join(map(repr, unknown))}; this model "
                           f"has {', '.join(available)}")
    return wanted


def _v2_tensors(out: Outputs, names: list[str]) -> list[dict[str, Any]]:
    tensors = []
    for name in names:
        arr = out.predictions if name == "predict" else out.probabilities
        assert arr is not None
        tensors.append({"name": name, "shape": list(arr.shape), "datatype": v2_datatype(
            arr.dtype), "data": arr.ravel().tolist()})
    return tensors
