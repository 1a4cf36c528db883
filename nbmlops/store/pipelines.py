"""Pipeline tables: step execution records (the cache), step outputs, schedules."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import insert, select, update

from nbmlops.errors import ConflictError, NotFoundError
from nbmlops.store import schema as s
from nbmlops.store.sql import SqlStore


class ScheduleNotFound(NotFoundError):
    """No pipeline schedule has this name."""

    kind = "schedule"


def _loads(raw: str | None, default: Any) -> Any:
    return json.loads(raw) if raw else default


class PipelineStore:
    """Pipeline operations on top of a SqlStore's engine (same URL, same transactions)."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    # step records ------------------------------------------------------------
    def record_step(self, run_id: str, **fields: Any) -> None:
        """Insert the execution record of one step run (JSON-encodes dict fields)."""
        row = {k: json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict) else v
               for k, v in fields.items()}
        with self.sql._write() as conn:
            conn.execute(insert(s.pipeline_steps).values(run_id=run_id, created_at=time.time(),
                                                         **row))

    def _decode(self, row: Any) -> dict[str, Any]:
        rec = dict(row._mapping)
        for key in ("fingerprint", "output_files", "outputs"):
            rec[key] = _loads(rec[key], {})
        return rec

    def matching_steps(self, pipeline: str, step: str, key: str) -> list[dict[str, Any]]:
        """Return successful records of a step with this fingerprint key, newest first."""
        t = s.pipeline_steps
        query = (select(t).where(t.c.pipeline == pipeline, t.c.step == step, t.c.key == key,
                                 t.c.status.in_(["ran", "cached"]))
                 .order_by(t.c.created_at.desc()).limit(20))
        with self.sql._read() as conn:
            return [self._decode(r) for r in conn.execute(query)]

    def latest_step(self, pipeline: str, step: str) -> dict[str, Any] | None:
        """Return the newest successful record of a step (to explain why it must run)."""
        t = s.pipeline_steps
        query = (select(t).where(t.c.pipeline == pipeline, t.c.step == step,
                                 t.c.status.in_(["ran", "cached"]))
                 .order_by(t.c.created_at.desc()).limit(1))
        with self.sql._read() as conn:
            row = conn.execute(query).first()
        return self._decode(row) if row is not None else None

    def step_record(self, run_id: str) -> dict[str, Any] | None:
        """Return the execution record of a step run, or None if it is not a step run."""
        t = s.pipeline_steps
        with self.sql._read() as conn:
            row = conn.execute(select(t).where(t.c.run_id == run_id)).first()
        return self._decode(row) if row is not None else None

    def steps_of(self, pipeline_run_id: str) -> list[dict[str, Any]]:
        """Return the step records of one pipeline execution, in execution order."""
        t = s.pipeline_steps
        with self.sql._read() as conn:
            rows = conn.execute(select(t).where(t.c.pipeline_run_id == pipeline_run_id)
                                .order_by(t.c.created_at))
            return [self._decode(r) for r in rows]

    def children(self, run_id: str) -> list[tuple[str, str]]:
        """Return (id, name) of a run's direct child runs, oldest first."""
        t = s.runs
        with self.sql._read() as conn:
            rows = conn.execute(select(t.c.id, t.c.name).where(t.c.parent_run_id == run_id)
                                .order_by(t.c.start_time)).all()
        return [(r[0], r[1]) for r in rows]

    # outputs -------------------------------------------------------------------
    def set_output(self, run_id: str, name: str, value: Any) -> None:
        """Store (or replace) one named output value of a run as JSON."""
        t = s.step_outputs
        with self.sql._write() as conn:
            self.sql._require_run(conn, run_id)
            conn.execute(t.delete().where(t.c.run_id == run_id, t.c.name == name))
            conn.execute(insert(t).values(run_id=run_id, name=name, value=json.dumps(value),
                                          created_at=time.time()))

    def set_outputs(self, run_id: str, values: dict[str, Any]) -> None:
        """Store (or replace) several named output values of a run in one transaction."""
        t = s.step_outputs
        now = time.time()
        with self.sql._write() as conn:
            self.sql._require_run(conn, run_id)
            conn.execute(t.delete().where(t.c.run_id == run_id, t.c.name.in_(list(values))))
            conn.execute(insert(t), [{"run_id": run_id, "name": name, "value": json.dumps(value),
                                      "created_at": now} for name, value in values.items()])

    def get_outputs(self, run_id: str) -> dict[str, Any]:
        """Return {name: value} of a run's outputs."""
        t = s.step_outputs
        with self.sql._read() as conn:
            rows = conn.execute(select(t.c.name, t.c.value).where(t.c.run_id == run_id)
                                .order_by(t.c.name))
            return {name: json.loads(value) for name, value in rows}

    # schedules -----------------------------------------------------------------
    def add_schedule(self, row: dict[str, Any]) -> None:
        """Insert a schedule; an existing name raises ConflictError."""
        row = dict(row, params=json.dumps(row.get("params") or {}, sort_keys=True))
        row.setdefault("created_at", time.time())
        with self.sql._write() as conn:
            t = s.pipeline_schedules
            if conn.execute(select(t.c.name).where(t.c.name == row["name"])).first():
                raise ConflictError(f"schedule {row['name']!r} already exists; remove it first "
                                    "or choose another --name")
            conn.execute(insert(t).values(**row))

    def list_schedules(self) -> list[dict[str, Any]]:
        """Return every schedule as a dict, by name."""
        t = s.pipeline_schedules
        with self.sql._read() as conn:
            rows = conn.execute(select(t).order_by(t.c.name)).all()
        return [dict(r._mapping, params=_loads(r.params, {}), paused=bool(r.paused))
                for r in rows]

    def get_schedule(self, name: str) -> dict[str, Any]:
        """Return one schedule or raise ScheduleNotFound."""
        for row in self.list_schedules():
            if row["name"] == name:
                return row
        raise ScheduleNotFound(name, "list schedules with `nbmlops schedule list`")

    def update_schedule(self, name: str, **fields: Any) -> None:
        """Update columns of a schedule (raises ScheduleNotFound)."""
        t = s.pipeline_schedules
        with self.sql._write() as conn:
            res = conn.execute(update(t).where(t.c.name == name).values(**fields))
        if res.rowcount == 0:
            raise ScheduleNotFound(name, "list schedules with `nbmlops schedule list`")

    def remove_schedule(self, name: str) -> None:
        """Delete a schedule (raises ScheduleNotFound)."""
        t = s.pipeline_schedules
        with self.sql._write() as conn:
            res = conn.execute(t.delete().where(t.c.name == name))
        if res.rowcount == 0:
            raise ScheduleNotFound(name, "list schedules with `nbmlops schedule list`")


def scheduler_job_store(store: PipelineStore) -> Any:
    """Return APScheduler's SQLAlchemyJobStore on the metadata store's own engine.

    Its table (``nbmlops_scheduler_jobs``) is part of the schema, so it is created and
    migrated with the others and shares the engine's SQLite settings (WAL, busy timeout).
    """
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(engine=store.sql.engine, tablename=s.JOBS_TABLE)


def pipeline_store(settings: Any = None) -> PipelineStore:
    """Return a PipelineStore on the configured metadata store."""
    from nbmlops.store import open_store

    sql, _ = open_store(settings)
    return PipelineStore(sql)
