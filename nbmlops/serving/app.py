"""create_app: the ASGI app that serves one model reference (MLflow + KServe V2 protocols).

Everything the app needs is passed in or built here; there are no module globals,
so tests can build several apps in one process. The request path does no store
I/O and imports nothing: logs go to a queue, the alias watcher runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from nbmlops._version import __version__
from nbmlops.serving import openapi as oa
from nbmlops.serving._http import (
    REQUEST_ID,
    GuardMiddleware,
    error_response,
    json_response,
    media_type,
    parse_json,
    read_body,
)
from nbmlops.serving.batching import MicroBatcher
from nbmlops.serving.metrics import CONTENT_TYPE, ServingMetrics
from nbmlops.serving.predict import Predictor
from nbmlops.serving.requestlog import PredictionLogger
from nbmlops.serving.service import LoadedModel, ModelService
from nbmlops.serving.validation import PayloadError

log = logging.getLogger("nbmlops.serving")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: rows per request beyond which a prediction request is refused with 413
DEFAULT_MAX_ROWS = 100_000
#: ground-truth items accepted in one /feedback request
MAX_FEEDBACK = 10_000


MAX_ROWS_ENV = "NBMLOPS_SERVE_MAX_ROWS"


def env_max_rows() -> int:
    """Return the row limit from ``NBMLOPS_SERVE_MAX_ROWS`` (default DEFAULT_MAX_ROWS)."""
    from nbmlops.errors import ConfigError

    raw = os.environ.get(MAX_ROWS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_ROWS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{MAX_ROWS_ENV}={raw!r} must be a whole number of rows, at least 1")
    return int(raw)


@dataclass(frozen=True)
class ServeOptions:
    """How the app behaves: auth, body and row limits, micro-batching, prediction logging."""

    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_rows: int = field(default_factory=lambda: env_max_rows())
    batching: str = "on"  # micro-batch concurrent single-row requests ("off" to disable)
    log_predictions: bool = True


def create_app(service: ModelService, options: ServeOptions | None = None, *,
               metrics: ServingMetrics | None = None,
               logger: PredictionLogger | None = None) -> FastAPI:
    """Return the FastAPI app serving ``service`` (start/stop of threads in its lifespan)."""
    opts = options or ServeOptions()
    metrics = metrics or ServingMetrics()
    name = service.current.name
    if logger is None and opts.log_predictions:
        logger = PredictionLogger(name, metrics)
        # the store is in use: /metrics also shows its latest drift share and alert states
        metrics.watch_monitoring(name, lambda: service.current.version)
    batcher = MicroBatcher(metrics)
    pred = Predictor(service, metrics, logger, batcher, opts.batching)
    pred.max_rows = opts.max_rows

    def on_swap(old: LoadedModel, new: LoadedModel) -> None:
        if new.version != old.version:  # not when the same version moves to onnxruntime
            metrics.swaps.inc()
        metrics.set_model(new.name, new.version, new.runtime.name)

    def on_failure(version: int, exc: BaseException) -> None:
        metrics.swap_failures.inc()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if logger is not None:
            logger.start()
        service.start_watching(on_swap, on_failure)
        try:
            yield
        finally:
            service.stop_watching()
            if logger is not None:
                logger.stop()

    app = FastAPI(title=f"nbmlops model server: {name}", version=__version__, lifespan=lifespan,
                  description="Serves one registered model version with MLflow-compatible "
                              "/invocations and the Open Inference Protocol (KServe V2).")
    app.state.service, app.state.metrics, app.state.logger = service, metrics, logger
    app.state.sibling_workers = False  # serve() sets it when it forks several workers
    metrics.set_model(name, service.current.version, service.current.runtime.name)
    _add_core_routes(app, service, metrics, pred, opts.max_body_bytes)
    _add_v2_routes(app, service, pred, opts.max_body_bytes)
    app.add_middleware(GuardMiddleware, metrics=metrics, token=opts.token)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.openapi = lambda: oa.document(app, secured=opts.token is not None)  # type: ignore[method-assign]
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Answer routing errors (404 unknown path, 405 wrong method) in the error format."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
    msg = f"{exc.detail}: {request.method} {request.url.path}"
    return json_response({"error": msg, "error_code": code, "message": msg}, exc.status_code,
                         dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """Answer any unexpected exception with a JSON 500 (no stack trace; it goes to the log)."""
    # Starlette re-raises after this answer, so the server logs the traceback once
    msg = (f"internal error ({type(exc).__name__}) while answering {request.url.path}; "
           "the server log has the details")
    return json_response({"error": msg, "error_code": "INTERNAL_ERROR", "message": msg}, 500)


def _add_core_routes(app: FastAPI, service: ModelService, metrics: ServingMetrics,
                     pred: Predictor, limit: int) -> None:
    @app.post("/invocations", summary="Predict (MLflow scoring protocol)", tags=["predict"],
              openapi_extra=oa.body(oa.INVOCATIONS, csv=True),
              responses=oa.responses(oa.PREDICTIONS))
    async def invocations(request: Request) -> Response:
        """Accept dataframe_split, dataframe_records, instances or inputs (or CSV)."""
        return await pred.mlflow(request, limit)

    @app.post("/feedback", summary="Record ground truth for earlier predictions",
              tags=["monitoring"], status_code=202, openapi_extra=oa.body(oa.FEEDBACK),
              responses=oa.responses({"type": "object"}, 202))
    async def feedback(request: Request) -> Response:
        """Queue ``{"request_id", "label"}`` rows (or ``{"feedback": [...]}``) for the store."""
        try:
            rows = _feedback_rows(await _json_body(request, limit))
            if pred.logger is None:
                raise PayloadError("this server does not log predictions (started with "
                                   "--no-log-predictions), so feedback has nothing to join; "
                                   "serve with prediction logging on", status=409,
                                   code="CONFLICT")
            await _check_issued(pred, service.current.name, [r["request_id"] for r in rows],
                                siblings=app.state.sibling_workers)
        except PayloadError as exc:
            return error_response(exc)
        pred.logger.feedback(rows)
        return json_response({"accepted": len(rows)}, 202)

    @app.get("/health", summary="Liveness and the version served", tags=["health"])
    async def health() -> Response:
        cur = service.current
        return json_response({"status": "ok", "model": cur.name, "version": cur.version})

    @app.get("/ping", summary="MLflow-compatible liveness probe", tags=["health"])
    async def ping() -> Response:
        return Response(b"\n", media_type="text/plain")

    @app.get("/version", summary="The model version being served", tags=["health"])
    async def version() -> Response:
        cur = service.current
        return json_response({
            "name": cur.name, "version": cur.version, "ref": service.ref,
            "follows_alias": service.follows_alias, "flavor": cur.flavor,
            "runtime": cur.runtime.name, "runtime_reason": cur.runtime_reason,
            "signature": cur.signature, "nbmlops_version": __version__,
            "startup": service.startup,
        })

    @app.get("/metrics", summary="Prometheus metrics", tags=["monitoring"])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _add_v2_routes(app: FastAPI, service: ModelService, pred: Predictor, limit: int) -> None:
    @app.get("/v2", summary="V2 server metadata", tags=["kserve-v2"])
    async def server_metadata() -> Response:
        return json_response({"name": "nbmlops", "version": __version__,
                              "extensions": ["binary_tensor_data"]})

    @app.get("/v2/health/live", summary="V2 server liveness", tags=["kserve-v2"])
    async def live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", summary="V2 server readiness", tags=["kserve-v2"])
    async def ready() -> Response:
        return json_response({"ready": True})

    @app.get("/v2/models/{model_name}", summary="V2 model metadata", tags=["kserve-v2"])
    @app.get("/v2/models/{model_name}/versions/{model_version}", include_in_schema=False)
    async def model_metadata(model_name: str, model_version: str | None = None) -> Response:
        cur, problem = _check_model(service.current, model_name, model_version)
        return problem or json_response(v2_metadata(cur))

    @app.get("/v2/models/{model_name}/ready", summary="V2 model readiness", tags=["kserve-v2"])
    async def model_ready(model_name: str) -> Response:
        _, problem = _check_model(service.current, model_name, None)
        return problem or json_response({"name": model_name, "ready": True})

    @app.post("/v2/models/{model_name}/infer", summary="V2 inference", tags=["kserve-v2"],
              openapi_extra=oa.body(oa.V2_REQUEST), responses=oa.responses(oa.V2_RESPONSE))
    @app.post("/v2/models/{model_name}/versions/{model_version}/infer", include_in_schema=False)
    async def infer(request: Request, model_name: str,
                    model_version: str | None = None) -> Response:
        """Accept one 2-D input [rows, columns] or one 1-D input per column."""
        cur, problem = _check_model(service.current, model_name, model_version)
        return problem or await pred.v2(request, cur, limit)


def _check_model(cur: LoadedModel, name: str,
                 version: str | None) -> tuple[LoadedModel, Response | None]:
    if name != cur.name or (version is not None and version != str(cur.version)):
        what = name if version is None else f"{name} version {version}"
        msg = f"model {what!r} is not served here; this server serves {cur.name} " \
              f"version {cur.version}"
        return cur, json_response({"error": msg, "error_code": "NOT_FOUND", "message": msg}, 404)
    return cur, None


def v2_metadata(cur: LoadedModel) -> dict[str, Any]:
    """Return the V2 model metadata document of the served version."""
    from nbmlops.serving.predict import v2_datatype

    inputs = [{"name": c, "datatype": v2_datatype(d), "shape": [-1]}
              for c, d in zip(cur.schema.columns or (), cur.schema.dtypes, strict=False)]
    classes = cur.runtime.classes
    predict_type = v2_datatype(np.asarray(classes).dtype) if classes else "FP64"
    outputs = [{"name": "predict", "datatype": predict_type, "shape": [-1]}]
    if cur.runtime.classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64",
                        "shape": [-1, len(cur.runtime.classes)]})
    return {"name": cur.name, "versions": [str(cur.version)],
            "platform": "onnxruntime" if cur.runtime.name == "onnx" else "sklearn",
            "inputs": inputs, "outputs": outputs,
            "parameters": {"classes": cur.runtime.classes}}


async def _json_body(request: Request, limit: int) -> Any:
    if media_type(request) != "application/json":
        raise PayloadError("send Content-Type: application/json", status=415,
                           code="UNSUPPORTED_MEDIA_TYPE")
    return parse_json(await read_body(request, limit))


async def _check_issued(pred: Predictor, model: str, ids: list[str], *,
                        siblings: bool = False) -> None:
    """Raise 404 naming the request ids that no logged prediction of ``model`` carries.

    An id this process answered is found in memory, an older one in the store. With
    ``siblings`` (other workers of this server), an id a sibling answered reaches the
    store only at its log's next flush (every 0.5 s): server-issued ids (UUID4 hex) still
    missing are looked up again, without holding a thread, for ``SIBLING_FLUSH_WAIT``
    seconds before they are called unknown. Only that error path waits.
    """
    unknown = list(dict.fromkeys(i for i in ids if i not in pred.recent))
    deadline = time.monotonic() + (SIBLING_FLUSH_WAIT if siblings else 0.0)
    while unknown:
        unknown = await asyncio.to_thread(_not_in_store, model, unknown)
        if not any(SERVER_ISSUED.match(i) for i in unknown) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more"
                                                     if len(unknown) > 5 else "")
        raise PayloadError(f"unknown request id(s) {shown}: no prediction of {model} was answered "
                           "with that X-Request-Id; send the X-Request-Id header of the prediction "
                           "response", status=404, code="NOT_FOUND")


#: how long a server-issued id may be missing from the store before a server with several
#: workers calls it unknown: two flushes of a sibling's prediction log
SIBLING_FLUSH_WAIT = 1.5
#: the form of the ids this server issues (request_id(): UUID4 hex)
SERVER_ISSUED = re.compile(r"^[0-9a-f]{32}$")


def _not_in_store(model: str, ids: list[str]) -> list[str]:
    """Return the ids no stored prediction of ``model`` carries (none when the store is down)."""
    from nbmlops.store.serving import serving_store

    try:
        known = serving_store().known_request_ids(model, ids)
    except Exception as exc:  # the store is down: accept (the logger buffers) rather than lose
        log.warning("cannot check feedback request ids against the store: %s", exc)
        return []
    return [i for i in ids if i not in known]


def _feedback_rows(body: Any) -> list[dict[str, Any]]:
    items = body.get("feedback") if isinstance(body, dict) and "feedback" in body else [body]
    if not isinstance(items, list) or not items:
        raise PayloadError('send {"request_id": "...", "label": ...} or {"feedback": [...]}')
    if len(items) > MAX_FEEDBACK:
        raise PayloadError(f"{len(items)} feedback items; send at most {MAX_FEEDBACK} per request",
                           status=413, code="PAYLOAD_TOO_LARGE")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) \
                or "label" not in item or not REQUEST_ID.match(item["request_id"]):
            raise PayloadError(f"feedback item {i} needs a request_id (the X-Request-Id of "
                               "the prediction: 1 to 64 of A-Z a-z 0-9 . _ -) and a label")
        label = item["label"]
        if isinstance(label, dict) or isinstance(label, list) and any(
                isinstance(v, (list, dict)) for v in label):
            raise PayloadError(f"feedback item {i}: the label must be a value or a list of "
                               "values (one per row of the prediction), not nested JSON")
    return [{"request_id": it["request_id"], "label": it["label"]} for it in items]
