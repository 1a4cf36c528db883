"""Bulk run creation: many finished runs with params and metrics in one transaction."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from nbmlops.entities import RunStatus
from nbmlops.store import schema as s
from nbmlops.store.sql_runs import RunsMixin
from nbmlops.store.sqlbase import HOST

#: one run to create: (name, start, end, params {key: (text, num, kind)}, metrics {key: value})
BulkRun = tuple[str, float, float, dict[str, tuple[str, float | None, str]], dict[str, float]]


class BulkMixin(RunsMixin):
    """The bulk path for sweeps and imports (``nbmlops.log_runs``)."""

    def bulk_create_runs(self, experiment: str, runs: Sequence[BulkRun],
                         *, chunk: int = 5000) -> list[str]:
        """Insert finished runs with params and single-step metrics; return their ids.

        All runs land in one transaction: a failure leaves the store as it was.
        """
        ids = [uuid.uuid4().hex for _ in runs]
        pid, now = os.getpid(), time.time()
        with self._write() as conn:
            exp_id = self._experiment_id(conn, experiment)
            for lo in range(0, len(runs), chunk):
                part = list(zip(ids[lo:lo + chunk], runs[lo:lo + chunk], strict=True))
                self._insert_part(conn, exp_id, part, pid, now)
        if not self.is_sqlite and len(runs) >= 1000:
            # PostgreSQL plans a filter from table statistics, and reads the covering
            # indexes without the table only for pages its visibility map marks all-visible;
            # autovacuum does both only a while later (until then a filter at 100k runs
            # walks every run, then reads heap pages: ~2x slower). VACUUM runs outside a
            # transaction and blocks no reader or writer.
            with self._translate(), self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM (ANALYZE) runs, params, latest_metrics")
        return ids

    def _insert_part(self, conn: Any, exp_id: int, part: list[tuple[str, BulkRun]],
                     pid: int, now: float) -> None:
        run_rows: list[dict[str, Any]] = []
        param_rows: list[dict[str, Any]] = []
        metric_rows: list[dict[str, Any]] = []
        for run_id, (name, start, end, params, metrics) in part:
            run_rows.append(dict(id=run_id, experiment_id=exp_id, name=name,
                                 status=RunStatus.FINISHED.value, start_time=start,
                                 end_time=end, heartbeat_at=now, pid=pid, host=HOST))
            param_rows.extend(dict(run_id=run_id, key=k, value=t, value_num=n, kind=kd)
                              for k, (t, n, kd) in params.items())
            for key, value in metrics.items():
                nan = value != value
                metric_rows.append(dict(run_id=run_id, key=key, value=None if nan else value,
                                        is_nan=nan, step=0, timestamp=end))
        conn.execute(insert(s.runs), run_rows)
        if param_rows:
            conn.execute(insert(s.params), param_rows)
        if metric_rows:
            conn.execute(insert(s.metrics), metric_rows)
            conn.execute(insert(s.latest_metrics), metric_rows)
