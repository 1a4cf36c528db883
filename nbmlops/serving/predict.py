"""The prediction request path: read, parse, validate, predict, serialise, log.

Each step is timed; the split goes back in a ``Server-Timing`` header
(``parse``, ``predict``, ``serialize``, in milliseconds), which ``%deploy --dry-run``
reports.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from nbmlops.serving import v2binary
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
    check_rows,
    columns_from_csv,
    columns_from_mlflow,
    columns_from_v2,
    validate,
)

if TYPE_CHECKING:
    from nbmlops.serving.batching import MicroBatcher
    from nbmlops.serving.metrics import ServingMetrics
    from nbmlops.serving.requestlog import PredictionLogger
    from nbmlops.serving.service import LoadedModel, ModelService

log = logging.getLogger("nbmlops.serving")

_JSON_TYPES = ("application/json",)
#: bodies up to this size are parsed on the event loop (well under a millisecond); larger
#: ones, and batches over INLINE_ROWS rows, are parsed, predicted and serialised in a worker
#: thread so that /health and small requests keep answering while they run
INLINE_BYTES = 64 * 1024
INLINE_ROWS = 256
#: request ids remembered for /feedback before falling back to the store
RECENT_IDS = 100_000


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
        self.max_rows: int | None = None
        self.recent: OrderedDict[str, None] = OrderedDict()  # ids answered by this process

    def remember(self, rid: str) -> None:
        """Record that ``rid`` was answered here (bounded; /feedback checks it)."""
        self.recent[rid] = None
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    async def _predict(self, model: LoadedModel, batch: Batch, proba: bool) -> Outputs:
        if batch.n_rows > INLINE_ROWS:  # big batches must not hold the event loop
            return await asyncio.to_thread(model.runtime.predict, batch.arrays, proba=proba)
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
            batch = await self._off_loop(len(body), self._mlflow_batch, mtype, body, model)
        except PayloadError as exc:
            return error_response(exc, headers)
        proba = request.query_params.get("probabilities") in ("true", "1")
        t1 = time.perf_counter()
        out = await self._safe_predict(model, batch, proba, headers)
        if isinstance(out, Response):
            return out
        t2 = time.perf_counter()
        result, raw = await self._off_loop(batch.n_rows * INLINE_BYTES // INLINE_ROWS,
                                           _mlflow_result, out, proba)
        return self._finish(model, batch, result, raw, headers, (t0, t1, t2), "/invocations")

    async def _off_loop(self, size: int, fn: Any, *args: Any) -> Any:
        """Return ``fn(*args)``, run in a worker thread when ``size`` is over INLINE_BYTES."""
        if size <= INLINE_BYTES:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    def _mlflow_batch(self, mtype: str, body: bytes, model: LoadedModel) -> Batch:
        if mtype == "text/csv":
            cols = columns_from_csv(_text(body), model.schema, self.max_rows)
        else:
            cols = columns_from_mlflow(parse_json(body), model.schema)
        check_rows(_n_rows(cols), self.max_rows)
        return validate(cols, model.schema)

    async def v2(self, request: Request, model: LoadedModel, limit: int) -> Response:
        """Answer ``POST /v2/models/{name}/infer``."""
        t0 = time.perf_counter()
        rid = request_id(request)
        headers = {"X-Request-Id": rid, "X-Model-Version": str(model.version)}
        try:
            header = request.headers.get(v2binary.HEADER)
            mtype = media_type(request)  # tritonclient sends none: JSON is the default
            if mtype not in ("", *_JSON_TYPES) and not (
                    header is not None and mtype == "application/octet-stream"):
                raise PayloadError(f"unsupported content type {mtype!r}; send a JSON body "
                                   "(application/json, or no Content-Type), optionally followed "
                                   "by binary tensors (Inference-Header-Content-Length)",
                                   status=415, code="UNSUPPORTED_MEDIA_TYPE")
            raw_body = await read_body(request, limit)
            body, batch, names = await self._off_loop(
                len(raw_body), self._v2_batch, raw_body, header, model)
        except PayloadError as exc:
            return error_response(exc, headers)
        t1 = time.perf_counter()
        out = await self._safe_predict(model, batch, "predict_proba" in names, headers)
        if isinstance(out, Response):
            return out
        t2 = time.perf_counter()
        rid_out = body.get("id") if isinstance(body.get("id"), str) else rid
        binary = v2binary.binary_outputs(body, names)
        result, raw, extra = await self._off_loop(
            batch.n_rows * INLINE_BYTES // INLINE_ROWS, _v2_result, model, rid_out, out, names,
            binary)
        logged = {"predictions": out.predictions.tolist()} if names[0] == "predict" else {}
        if extra is not None:
            headers["Inference-Header-Content-Length"] = str(len(raw))
            return self._finish(model, batch, logged, raw + extra, headers, (t0, t1, t2),
                                "/v2/infer", "application/octet-stream")
        return self._finish(model, batch, logged, raw, headers, (t0, t1, t2), "/v2/infer")

    def _v2_batch(self, raw_body: bytes, header: str | None,
                  model: LoadedModel) -> tuple[dict[str, Any], Batch, list[str]]:
        head, tail = v2binary.split_body(raw_body, header)
        body = parse_json(head)
        if isinstance(body, dict):
            v2binary.decode_inputs(body, tail)
        elif tail:
            raise PayloadError("the JSON header must be a V2 request object")
        cols, wanted = columns_from_v2(body, model.schema)
        check_rows(_n_rows(cols), self.max_rows)
        return body, validate(cols, model.schema), _v2_outputs(model, wanted)

    async def _safe_predict(self, model: LoadedModel, batch: Batch, proba: bool,
                            headers: dict[str, str]) -> Outputs | Response:
        try:
            return await self._predict(model, batch, proba)
        except Exception as exc:  # the model raised: report it, keep the server up
            if batch.missing and isinstance(exc, ValueError):  # "when unsure, the model decides"
                msg = (f"the model refused the missing value(s) in this request: {exc}; send "
                       "values for every column")
                return json_response({"error": msg, "error_code": "BAD_REQUEST",
                                      "message": msg}, 400, headers)
            log.exception("prediction failed on %s/%s", model.name, model.version)
            msg = f"the model failed to predict: {type(exc).__name__}: {exc}"
            return json_response({"error": msg, "error_code": "INTERNAL_ERROR",
                                  "message": msg}, 500)

    def _finish(self, model: LoadedModel, batch: Batch, logged: dict[str, Any], raw: bytes,
                headers: dict[str, str], marks: tuple[float, float, float],
                endpoint: str, media: str = "application/json") -> Response:
        t0, t1, t2 = marks
        t3 = time.perf_counter()
        headers["Server-Timing"] = (f"parse;dur={(t1 - t0) * 1e3:.3f}, "
                                    f"predict;dur={(t2 - t1) * 1e3:.3f}, "
                                    f"serialize;dur={(t3 - t2) * 1e3:.3f}")
        self.metrics.predictions.labels(str(model.version)).inc(batch.n_rows)
        self.remember(headers["X-Request-Id"])
        if self.logger is not None:
            self.logger.log((headers["X-Request-Id"], time.time(), model.version, batch.raw,
                             logged, (t3 - t0) * 1e3, endpoint, batch.n_rows))
        return Response(raw, 200, headers, media_type=media)


def _mlflow_result(out: Outputs, proba: bool) -> tuple[dict[str, Any], bytes]:
    result: dict[str, Any] = {"predictions": out.predictions.tolist()}
    if proba and out.probabilities is not None:
        result["probabilities"] = out.probabilities.tolist()
    return result, dumps(result)


def _n_rows(cols: dict[str, list[Any]]) -> int:
    return len(next(iter(cols.values()))) if cols else 0


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


def _v2_result(model: LoadedModel, rid: str, out: Outputs, names: list[str],
               binary: set[str]) -> tuple[dict[str, Any], bytes, bytes | None]:
    """Return (response document, its JSON bytes, binary tail or None)."""
    tensors, tail = [], []
    for name in names:
        arr = out.predictions if name == "predict" else out.probabilities
        assert arr is not None
        datatype = v2_datatype(arr.dtype)
        tensor: dict[str, Any] = {"name": name, "shape": list(arr.shape), "datatype": datatype}
        if name in binary:
            data = v2binary.encode_output(arr, datatype)
            tensor["parameters"] = {"binary_data_size": len(data)}
            tail.append(data)
        else:
            tensor["data"] = arr.ravel().tolist()
        tensors.append(tensor)
    result = {"model_name": model.name, "model_version": str(model.version), "id": rid,
              "outputs": tensors}
    return result, dumps(result), b"".join(tail) if binary else None
