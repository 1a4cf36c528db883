"""Batched metric writes: log_metric appends in memory; a thread flushes and heartbeats."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbmlops.store.base import MetricRow
    from nbmlops.store.sql import SqlStore

log = logging.getLogger("nbmlops")


class MetricBuffer:
    """Pending metric points per store, flushed every ``interval`` seconds and at exit."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        # Held for a whole flush (swap + write), so a flush that finds nothing pending
        # still waits for one in flight on another thread: end_run and interpreter exit
        # must not return while the flusher thread is half-way through a write.
        self._flush_lock = threading.Lock()
        self._pending: dict[int, tuple[SqlStore, list[MetricRow]]] = {}
        self._live: dict[str, SqlStore] = {}  # run_id -> store, for heartbeats
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False

    def add(self, store: SqlStore, row: MetricRow) -> None:
        """Queue one metric point (cheap: no I/O)."""
        with self._lock:
            entry = self._pending.get(id(store))
            if entry is None:
                entry = self._pending[id(store)] = (store, [])
            entry[1].append(row)
        if self._thread is None:
            self._start()

    def watch(self, store: SqlStore, run_id: str) -> None:
        """Heartbeat ``run_id`` while it is live."""
        with self._lock:
            self._live[run_id] = store
        if self._thread is None:
            self._start()

    def unwatch(self, run_id: str) -> None:
        """Stop heartbeating a run."""
        with self._lock:
            self._live.pop(run_id, None)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="nbmlops-flush", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
                self._heartbeat()
            except Exception as exc:  # never let the thread die; retry next tick
                if not self._warned:
                    log.warning("nbmlops: could not write metrics, will retry: %s", exc)
                    self._warned = True

    def _heartbeat(self) -> None:
        with self._lock:
            by_store: dict[int, tuple[SqlStore, list[str]]] = {}
            for run_id, store in self._live.items():
                by_store.setdefault(id(store), (store, []))[1].append(run_id)
        for store, run_ids in by_store.values():
            store.heartbeat(run_ids)

    def flush(self) -> None:
        """Write every pending point now; keep them queued (in order) if writing fails."""
        with self._flush_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        with self._lock:
            batches = list(self._pending.values())
            self._pending = {}
        failed: list[tuple[SqlStore, list[MetricRow]]] = []
        for store, rows in batches:
            try:
                store.log_metric_rows(rows)
            except Exception:
                failed.append((store, rows))
        if failed:
            with self._lock:
                for store, rows in failed:
                    entry = self._pending.setdefault(id(store), (store, []))
                    entry[1][:0] = rows
            from nbmlops.errors import StoreError

            raise StoreError(
                f"{sum(len(r) for _, r in failed)} metric points could not be written yet; "
                "they stay queued and are retried on the next flush"
            )

    def flush_quietly(self) -> None:
        """Flush, logging instead of raising when the store cannot take the points yet."""
        try:
            self.flush()
        except Exception as exc:
            log.warning("nbmlops: %s", exc)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending, self._live = {}, {}
        self._thread = None
        self._wake = threading.Event()


_buffer: MetricBuffer | None = None


def get_buffer() -> MetricBuffer:
    """Return the process-wide metric buffer."""
    global _buffer
    if _buffer is None:
        from nbmlops.config import _float_env

        _buffer = MetricBuffer(_float_env("NBMLOPS_FLUSH_INTERVAL", 1.0))
        atexit.register(_flush_at_exit)
        os.register_at_fork(after_in_child=_buffer._reset_after_fork)
    return _buffer


def _flush_at_exit() -> None:
    if _buffer is None:
        return
    try:
        _buffer.flush()
    except Exception as exc:
        log.error("nbmlops: metrics could not be written at exit: %s", exc)
