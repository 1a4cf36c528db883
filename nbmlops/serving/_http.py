"""HTTP plumbing of the served app: bounded body reads, JSON responses, auth and metrics."""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nbmlops.serving.metrics import ServingMetrics
from nbmlops.serving.validation import PayloadError

#: reachable without a token: orchestrators probe these and they reveal nothing
PUBLIC_PATHS = frozenset({"/health", "/ping", "/v2/health/live", "/v2/health/ready"})
#: what a request id may be (X-Request-Id header, /feedback request_id)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: deepest JSON nesting accepted in any body (MLflow and V2 payloads need at most 5)
MAX_DEPTH = 32
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[0x5B, 0x7B]], _BRACKET_STEP[[0x5D, 0x7D]] = 1, -1
_ENDPOINTS = {"/invocations", "/feedback", "/health", "/ping", "/version", "/metrics",
              "/v2", "/v2/health/live", "/v2/health/ready", "/openapi.json", "/docs"}


def dumps(value: Any) -> bytes:
    """Return compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None,
                  raw: bytes | None = None) -> Response:
    """Return a JSON Response (``raw`` when the bytes were already serialised)."""
    return Response(raw if raw is not None else dumps(value), status_code=status,
                    headers=headers, media_type="application/json")


def error_response(exc: PayloadError, headers: dict[str, str] | None = None) -> Response:
    """Return the JSON error response of a PayloadError."""
    return json_response(exc.body(), exc.status, headers)


def request_id(request: Request) -> str:
    """Return the client's ``X-Request-Id`` when well-formed, else a new UUID4 hex."""
    given = request.headers.get("x-request-id")
    return given if given and REQUEST_ID.match(given) else uuid.uuid4().hex


async def read_body(request: Request, limit: int) -> bytes:
    """Return the body, refusing (413) by Content-Length or while streaming past ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise PayloadError(f"bad Content-Length {declared!r}")
        if int(declared) > limit:
            raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> PayloadError:
    return PayloadError(f"the body is larger than the limit of {limit} bytes (got at least "
                        f"{size}); send fewer rows per request or raise --max-body-bytes",
                        status=413, code="PAYLOAD_TOO_LARGE")


def parse_json(body: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Return the decoded JSON, or raise PayloadError saying where it is malformed or too deep."""
    if not body.strip():
        raise PayloadError("the body is empty; send a JSON payload")
    depth = json_depth(body)
    if depth > max_depth:
        raise PayloadError(f"the JSON body is nested {depth} levels deep; the limit is "
                           f"{max_depth} (a prediction payload needs at most 5)")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}") from None
    except RecursionError:  # unreachable after json_depth, kept as a last guard
        raise PayloadError(f"the JSON body is nested too deep; the limit is {max_depth}") \
            from None
    except ValueError as exc:  # int literals over sys.get_int_max_str_digits() digits
        raise PayloadError(f"the JSON body has a number that cannot be read: {exc}".split(
            "; use sys.")[0]) from None


def json_depth(body: bytes) -> int:
    """Return how deep ``[``/``{`` nest in a JSON text, not counting brackets inside strings.

    Vectorised over the bytes (numpy), so a 10 MiB body costs milliseconds and never
    recurses: it runs before ``json.loads``, whose C decoder would hit the recursion limit.
    """
    a = np.frombuffer(body, np.uint8)
    step = _BRACKET_STEP[a]
    pos = np.flatnonzero(step)
    if not pos.size:
        return 0
    quotes = np.flatnonzero(a == 0x22)
    if quotes.size:
        quotes = quotes[~_escaped(a, quotes)]
        pos = pos[np.searchsorted(quotes, pos) % 2 == 0]  # an odd count before: in a string
        if not pos.size:
            return 0
    return max(int(np.cumsum(step[pos], dtype=np.int64).max()), 0)


def _escaped(a: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Return which quotes are escaped (preceded by an odd run of backslashes)."""
    out = np.zeros(quotes.size, dtype=bool)
    cand = np.flatnonzero((quotes > 0) & (a[np.maximum(quotes - 1, 0)] == 0x5C))
    if not cand.size:
        return out
    slashes = np.flatnonzero(a == 0x5C)
    first = np.r_[True, np.diff(slashes) != 1]  # where each run of backslashes starts
    run_start = np.flatnonzero(first)[np.cumsum(first) - 1]
    idx = np.searchsorted(slashes, quotes[cand] - 1)  # the backslash right before the quote
    out[cand] = (idx - run_start[idx] + 1) % 2 == 1
    return out


def media_type(request: Request) -> str:
    """Return the request's media type without parameters, lower-cased."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def endpoint_label(path: str) -> str:
    """Return a low-cardinality metrics label for a request path."""
    if path in _ENDPOINTS:
        return path
    if path.startswith("/v2/models/"):
        tail = path.rsplit("/", 1)[-1]
        return f"/v2/models/{tail}" if tail in ("infer", "ready") else "/v2/models"
    return "other"


class GuardMiddleware:
    """Pure-ASGI middleware: bearer-token check, then request counts and latency."""

    def __init__(self, app: ASGIApp, *, metrics: ServingMetrics, token: str | None) -> None:
        self.app = app
        self.metrics = metrics
        self.token = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope["path"]
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.token is not None and path not in PUBLIC_PATHS and not self._authorized(scope):
                await self._deny(scope, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(endpoint_label(path), status, time.perf_counter() - start)

    def _authorized(self, scope: Scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"authorization":
                return hmac.compare_digest(value, self.token or b"")
        return False

    async def _deny(self, scope: Scope, send: Send) -> None:
        has = any(k == b"authorization" for k, _ in scope["headers"])
        msg = ("wrong bearer token" if has else
               "missing bearer token; send the header 'Authorization: Bearer <token>'")
        body = dumps({"error": msg, "error_code": "UNAUTHENTICATED", "message": msg})
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="nbmlops"')]})
        await send({"type": "http.response.body", "body": body})
