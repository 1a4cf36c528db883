"""Params, metrics (history and latest values) and tags of runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from nbmlops.entities import MetricPoint
from nbmlops.errors import (
    ConflictError,
)
from nbmlops.store import schema as s
from nbmlops.store.base import MetricRow

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from nbmlops.store.sqlbase import SqlBase, _dt


class ValuesMixin(SqlBase):
    """What runs log: params, metric points, latest metrics, tags."""

    # params / metrics / tags -------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, tuple[str, float | None, str]]) -> None:
        """Store params; re-logging a key with a different value raises ConflictError."""
        if not params:
            return
        with self._write() as conn:
            self._require_run(conn, run_id)
            existing = dict(conn.execute(
                select(s.params.c.key, s.params.c.value)
                .where(s.params.c.run_id == run_id, s.params.c.key.in_(list(params)))
            ).all())
            for key, (text, _num, _kind) in params.items():
                if key in existing and existing[key] != text:
                    raise ConflictError(
                        f"param {key!r} of run {run_id} is already {existing[key]!r}; params are "
                        f"immutable, so {text!r} was not stored (log it under another key)"
                    )
            new = [dict(run_id=run_id, key=k, value=t, value_num=n, kind=kd)
                   for k, (t, n, kd) in params.items() if k not in existing]
            if new:
                conn.execute(insert(s.params), new)

    def log_metric_rows(self, rows: Iterable[MetricRow]) -> None:
        """Append metric points and move each run's latest value forward."""
        rows = list(rows)
        if not rows:
            return
        history = []
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for run_id, key, value, step, ts in rows:
            nan = value != value
            rec = dict(run_id=run_id, key=key, value=None if nan else value, is_nan=nan,
                       step=step, timestamp=ts)
            history.append(rec)
            cur = latest.get((run_id, key))
            if cur is None or (step, ts) >= (cur["step"], cur["timestamp"]):
                latest[(run_id, key)] = rec
        with self._write() as conn:
            conn.execute(insert(s.metrics), history)
            self._upsert_latest(conn, list(latest.values()))

    def _upsert_latest(self, conn: Connection, recs: list[dict[str, Any]]) -> None:
        stmt: SqliteInsert | PgInsert
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(s.latest_metrics)
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(s.latest_metrics)
        t = s.latest_metrics
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.run_id, t.c.key],
            set_=dict(value=stmt.excluded.value, is_nan=stmt.excluded.is_nan,
                      step=stmt.excluded.step, timestamp=stmt.excluded.timestamp),
            where=(t.c.step < stmt.excluded.step)
            | ((t.c.step == stmt.excluded.step) & (t.c.timestamp <= stmt.excluded.timestamp)),
        )
        conn.execute(stmt, recs)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Insert or replace tags."""
        if not tags:
            return
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(s.tags.delete().where(s.tags.c.run_id == run_id,
                                               s.tags.c.key.in_(list(tags))))
            conn.execute(insert(s.tags), [dict(run_id=run_id, key=k, value=v)
                                          for k, v in tags.items()])

    def tag_index(self, key: str) -> dict[str, str]:
        """Return {tag value: run id} of the runs that carry tag ``key``."""
        t = s.tags
        with self._read() as conn:
            rows = conn.execute(select(t.c.value, t.c.run_id).where(t.c.key == key)).all()
        return {value: run_id for value, run_id in rows}

    def _by_run(self, table: Any, cols: list[Any], run_ids: Sequence[str],
                conn: Connection | None = None) -> list[Any]:
        if conn is None:
            with self._read() as own:
                return self._by_run(table, cols, run_ids, own)
        out: list[Any] = []
        ids = list(run_ids)
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[i:i + 500]
            out.extend(conn.execute(select(table.c.run_id, *cols)
                                    .where(table.c.run_id.in_(chunk))).all())
        return out

    def get_run_values(self, run_ids: Sequence[str]) -> tuple[list[Any], list[Any]]:
        """Return raw (params, latest metrics) rows of runs, read in one transaction.

        Params are (run_id, key, text, kind); metrics are (run_id, key, value, is_nan).
        """
        with self._read() as conn:
            return (self._raw_by_run(conn, "params", "key, value, kind", run_ids),
                    self._raw_by_run(conn, "latest_metrics", "key, value, is_nan", run_ids))

    def _raw_by_run(self, conn: Connection, table: str, cols: str,
                    run_ids: Sequence[str]) -> list[Any]:
        # Driver-level SQL: for a thousand runs SQLAlchemy's per-row result processing
        # cost as much as the query itself. Table and column names are constants here;
        # the run ids are bound parameters.
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        out: list[Any] = []
        ids = list(run_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            sql = (f"SELECT run_id, {cols} FROM {table} WHERE run_id IN "
                   f"({', '.join([mark] * len(chunk))})")
            out.extend(conn.exec_driver_sql(sql, tuple(chunk)).fetchall())
        return out

    def get_params(self, run_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """Return {run_id: {key: (text, kind)}}."""
        out: dict[str, dict[str, tuple[str, str]]] = {r: {} for r in run_ids}
        t = s.params
        for run_id, key, value, kind in self._by_run(t, [t.c.key, t.c.value, t.c.kind], run_ids):
            out[run_id][key] = (value, kind)
        return out

    def get_latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Return {run_id: {key: latest value}} (NaN restored)."""
        out: dict[str, dict[str, float]] = {r: {} for r in run_ids}
        t = s.latest_metrics
        for run_id, key, value, nan in self._by_run(t, [t.c.key, t.c.value, t.c.is_nan], run_ids):
            out[run_id][key] = float("nan") if nan else float(value)
        return out

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Return every logged point of a metric, ordered by step then time."""
        return [MetricPoint(key, v, step, _dt(ts))  # type: ignore[arg-type]
                for step, v, ts in self.metric_history_rows(run_id, key)]

    def metric_history_rows(self, run_id: str, key: str) -> list[tuple[int, float, float]]:
        """Return (step, value, epoch seconds) of every point of a metric, in order.

        The raw form for frames and exports: a hundred thousand points without building
        a datetime per point (that alone cost more than the query).
        """
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = (f"SELECT step, value, is_nan, timestamp FROM metrics WHERE run_id = {mark} "
               f"AND key = {mark} ORDER BY step, timestamp, id")
        with self._read() as conn:
            rows = conn.exec_driver_sql(sql, (run_id, key)).fetchall()
        nan = float("nan")
        return [(int(step), nan if is_nan else float(v), float(ts))
                for step, v, is_nan, ts in rows]

    def get_tags(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return {run_id: {key: value}}."""
        out: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for run_id, key, value in self._by_run(s.tags, [s.tags.c.key, s.tags.c.value], run_ids):
            out[run_id][key] = value
        return out

