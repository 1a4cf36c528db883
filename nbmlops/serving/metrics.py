"""Prometheus metrics of one serving process, on its own registry (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """Request counts by status, latency, predictions, model version and logging health."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("nbmlops_requests", "HTTP requests by endpoint and status.",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("nbmlops_request_latency_seconds",
                                 "Request latency by endpoint (server side).", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.predictions = Counter("nbmlops_predictions", "Rows predicted, by model version.",
                                   ["version"], registry=r)
        self.model_info = Gauge("nbmlops_model_info", "The model version being served (1).",
                                ["name", "version", "runtime"], registry=r)
        self.swaps = Counter("nbmlops_model_swaps", "Hot swaps to a new model version.",
                             registry=r)
        self.swap_failures = Counter("nbmlops_model_swap_failures",
                                     "New versions that failed to load (old one kept).",
                                     registry=r)
        self.batch_rows = Histogram("nbmlops_microbatch_rows", "Rows per micro-batch.",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.log_written = Counter("nbmlops_prediction_log_written",
                                   "Prediction log rows written to the store.", registry=r)
        self.log_failures = Counter("nbmlops_prediction_log_failures",
                                    "Failed attempts to write prediction logs to the store.",
                                    registry=r)
        self.log_dropped = Counter("nbmlops_prediction_log_dropped",
                                   "Prediction log rows dropped because the buffer was full.",
                                   registry=r)
        self.log_store_up = Gauge("nbmlops_prediction_log_store_up",
                                  "1 if the last write to the store worked, else 0.", registry=r)
        self.log_pending = Gauge("nbmlops_prediction_log_pending",
                                 "Prediction log rows waiting to be written.", registry=r)
        self.log_store_up.set(1)
        self._children: dict[tuple[str, int], Any] = {}
        self._latency: dict[str, Any] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one request and its latency (label children cached: this is per request)."""
        key = (endpoint, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(endpoint, str(status))
        child.inc()
        hist = self._latency.get(endpoint)
        if hist is None:
            hist = self._latency[endpoint] = self.latency.labels(endpoint)
        hist.observe(seconds)

    def set_model(self, name: str, version: int, runtime: str) -> None:
        """Make ``nbmlops_model_info`` show only the version now served."""
        self.model_info.clear()
        self.model_info.labels(name, str(version), runtime).set(1)

    def watch_monitoring(self, model: str, version: Callable[[], int]) -> None:
        """Also export the store's latest drift share and alert states for ``model``."""
        from nbmlops.monitoring.exporter import MonitoringCollector

        self.registry.register(MonitoringCollector(model, version))

    def render(self) -> bytes:
        """Return the Prometheus text exposition."""
        return generate_latest(self.registry)
