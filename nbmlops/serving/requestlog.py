"""Prediction logs and feedback, written to the store in batches by a background thread.

The request path only appends a tuple to a deque. A daemon thread turns them
into rows and writes them every ``flush_interval`` seconds. If the store is
unavailable the rows stay buffered (up to ``max_pending``; beyond that the oldest
are dropped and counted), the failure is logged once per outage and shown by the
``nbmlops_prediction_log_*`` metrics, and the service keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from nbmlops.serving.metrics import ServingMetrics

log = logging.getLogger("nbmlops.serving")

#: (request_id, at, version, inputs {col: values}, outputs, latency_ms, endpoint, n_rows)
PredictionRecord = tuple[str, float, int, dict[str, list[Any]], dict[str, Any], float, str, int]


class PredictionLogger:
    """Buffers prediction records and feedback; a thread writes them to the store."""

    def __init__(self, model: str, metrics: ServingMetrics, *,
                 store_factory: Callable[[], Any] | None = None, flush_interval: float = 0.5,
                 max_pending: int = 100_000, batch_size: int = 2_000) -> None:
        self.model = model
        self.metrics = metrics
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self.batch_size = batch_size
        self._factory = store_factory or _default_store
        self._store: Any = None
        self._records: deque[PredictionRecord] = deque()
        self._feedback: deque[dict[str, Any]] = deque()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (thread vs. shutdown)
        self._thread: threading.Thread | None = None
        self._failing = False
        metrics.log_pending.set_function(lambda: len(self._records) + len(self._feedback))

    def log(self, record: PredictionRecord) -> None:
        """Queue one prediction record (cheap; called on the request path)."""
        if len(self._records) >= self.max_pending:
            self._records.popleft()
            self.metrics.log_dropped.inc()
        self._records.append(record)

    def feedback(self, rows: list[dict[str, Any]]) -> None:
        """Queue ground-truth rows ``{request_id, label}``."""
        now = time.time()
        for r in rows:
            self._feedback.append({"request_id": r["request_id"], "model": self.model,
                                   "label": r["label"], "at": now})

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="nbmlops-prediction-log",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after a last flush (bounded by ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self.flush()

    def flush(self) -> bool:
        """Write everything queued; return False (keeping the rows) if the store failed."""
        with self._lock:
            while self._records or self._feedback:
                preds = _take(self._records, self.batch_size)
                fb = _take(self._feedback, self.batch_size)
                try:
                    store = self._store or self._open()
                    store.add_predictions([self._row(r) for r in preds])
                    store.add_feedback(fb)
                except Exception as exc:  # any store failure: keep the rows, keep serving
                    self._failed(exc, preds, fb)
                    return False
                self.metrics.log_written.inc(len(preds))
                if self._failing:
                    log.warning("prediction log store is back; writing buffered rows")
                self._failing = False
                self.metrics.log_store_up.set(1)
            return True

    def _open(self) -> Any:
        self._store = self._factory()
        return self._store

    def _failed(self, exc: Exception, preds: list[PredictionRecord],
                fb: list[dict[str, Any]]) -> None:
        self._store = None  # reopen next time: the file may have been replaced
        self.metrics.log_failures.inc()
        self.metrics.log_store_up.set(0)
        if not self._failing:
            log.error("cannot write prediction logs to the store (still serving; %d rows "
                      "buffered): %s", len(preds) + len(self._records), exc)
        self._failing = True
        self._records.extendleft(reversed(preds))
        self._feedback.extendleft(reversed(fb))
        while len(self._records) > self.max_pending:
            self._records.popleft()
            self.metrics.log_dropped.inc()

    def _row(self, r: PredictionRecord) -> dict[str, Any]:
        request_id, at, version, inputs, outputs, latency_ms, endpoint, n_rows = r
        return {"request_id": request_id, "model": self.model, "version": version, "at": at,
                "n_rows": n_rows, "inputs": inputs, "outputs": outputs,
                "latency_ms": latency_ms, "endpoint": endpoint}


def _take(queue: deque[Any], n: int) -> list[Any]:
    out: list[Any] = []
    while queue and len(out) < n:
        out.append(queue.popleft())
    return out


def _default_store() -> Any:
    from nbmlops.store.serving import serving_store

    return serving_store()
