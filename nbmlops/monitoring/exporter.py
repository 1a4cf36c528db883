"""Prometheus gauges of the latest monitoring verdicts, for a serving process's /metrics.

``nbmlops_drift_share`` is the drift share of the newest monitoring snapshot of the
version being served; ``nbmlops_alert_active{rule="drift_share > 0.3"}`` is 1 while that
alert rule of the model fires. Label cardinality is bounded: at most ``MAX_RULES`` rule
labels, the rest folded into ``rule="other"``. The store is read at most once per
``ttl`` seconds, so a scrape stays cheap however often Prometheus comes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("nbmlops.serving")
MAX_RULES = 20


class MonitoringCollector:
    """A prometheus_client collector reading verdicts from the store (cached ``ttl`` s)."""

    def __init__(self, model: str, version: Callable[[], int], *, ttl: float = 5.0,
                 store_factory: Callable[[], Any] | None = None) -> None:
        self.model, self.version, self.ttl = model, version, ttl
        self._factory = store_factory
        self._at = -float("inf")
        self._share: float | None = None
        self._rules: list[tuple[str, bool]] = []

    def describe(self) -> Iterator[Any]:
        """Describe the families without reading the store (registration must be cheap)."""
        yield from self._families(None, [])

    def collect(self) -> Iterator[Any]:
        """Yield the gauges, refreshing them from the store when older than ``ttl``."""
        if time.monotonic() - self._at >= self.ttl:
            self._refresh()
        yield from self._families(self._share, self._rules)

    def _refresh(self) -> None:
        self._at = time.monotonic()
        try:
            store = self._store()
            snap = store.latest_snapshot(self.model, self.version())
            rules = store.rules(self.model)
        except Exception as exc:  # a scrape never fails because the store is away
            log.warning("monitoring gauges not refreshed: %s", exc)
            return
        self._share = None if snap is None else snap["drift_share"]
        labels: list[tuple[str, bool]] = []
        seen: set[str] = set()
        for r in rules:
            label = f"{r['metric']} {r['op']} {r['threshold']:g}"
            label = f"{label} #{r['id'][:6]}" if label in seen else label
            seen.add(label)
            labels.append((label, bool(r["firing"])))
        if len(labels) > MAX_RULES:
            rest = any(f for _, f in labels[MAX_RULES:])
            labels = labels[:MAX_RULES] + [("other", rest)]
        self._rules = labels

    def _store(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from nbmlops.store.monitoring import monitoring_store

        return monitoring_store()

    @staticmethod
    def _families(share: float | None, rules: list[tuple[str, bool]]) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        drift = GaugeMetricFamily(
            "nbmlops_drift_share",
            "Share of input columns drifting in the latest monitoring snapshot of the "
            "served version.")
        if share is not None:
            drift.add_metric([], share)
        yield drift
        active = GaugeMetricFamily("nbmlops_alert_active",
                                   "1 while an alert rule of the served model is firing.",
                                   labels=["rule"])
        for label, firing in rules:
            active.add_metric([label], 1.0 if firing else 0.0)
        yield active
