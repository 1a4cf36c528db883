"""Monitoring tables: drift references, monitoring snapshots, alert rules and alert events."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from nbmlops.errors import NotFoundError
from nbmlops.store import schema as s
from nbmlops.store.sql import SqlStore


class AlertRuleNotFound(NotFoundError):
    """No alert rule has this id."""

    kind = "alert rule"


class MonitoringStore:
    """Monitoring operations on top of a SqlStore's engine (same URL, same transactions)."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    # drift references ---------------------------------------------------------
    def has_reference(self, fingerprint: str) -> bool:
        """Return whether a drift reference is stored for a dataset fingerprint."""
        t = s.drift_references
        with self.sql._read() as conn:
            q = select(t.c.fingerprint).where(t.c.fingerprint == fingerprint)
            return conn.execute(q).first() is not None

    def put_reference(self, fingerprint: str, payload: bytes) -> None:
        """Store the drift reference of a dataset once (later calls are no-ops)."""
        t = s.drift_references
        with self.sql._write() as conn:
            if conn.execute(select(t.c.fingerprint)
                            .where(t.c.fingerprint == fingerprint)).first() is None:
                conn.execute(insert(t).values(fingerprint=fingerprint, payload=payload,
                                              created_at=time.time()))

    def get_reference(self, fingerprint: str) -> bytes | None:
        """Return the stored drift reference bytes of a fingerprint (or prefix), or None."""
        t = s.drift_references
        with self.sql._read() as conn:
            rows = conn.execute(select(t.c.payload)
                                .where(t.c.fingerprint.startswith(fingerprint)).limit(2)).all()
        return bytes(rows[0][0]) if len(rows) == 1 else None

    # snapshots ----------------------------------------------------------------
    def add_snapshot(self, row: dict[str, Any]) -> None:
        """Insert one monitoring snapshot (``drift`` as a JSON-able dict)."""
        with self.sql._write() as conn:
            conn.execute(insert(s.monitor_snapshots).values(
                **{**row, "drift": json.dumps(row.get("drift") or {}, default=str)}))

    def snapshots(self, model: str, version: int | None = None) -> list[dict[str, Any]]:
        """Return the snapshots of a model (oldest first)."""
        t = s.monitor_snapshots
        q = select(t).where(t.c.model == model).order_by(t.c.at, t.c.id)
        if version is not None:
            q = q.where(t.c.version == version)
        with self.sql._read() as conn:
            rows = [r._asdict() for r in conn.execute(q)]
        for r in rows:
            r["drift"] = json.loads(r["drift"])
        return rows

    def latest_snapshot(self, model: str, version: int) -> dict[str, Any] | None:
        """Return the newest snapshot of a model version (without its drift detail)."""
        t = s.monitor_snapshots
        q = (select(t.c.at, t.c.drift_share, t.c.accuracy).where(t.c.model == model,
             t.c.version == version).order_by(t.c.at.desc(), t.c.id.desc()).limit(1))
        with self.sql._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else row._asdict()

    # feedback without a logged request ---------------------------------------
    def orphan_feedback(self, model: str, since: float | None = None) -> int:
        """Return how many feedback rows of a model name no logged request id."""
        f, p = s.prediction_feedback, s.prediction_logs
        known = select(p.c.request_id).where(p.c.model == model)
        q = select(func.count()).select_from(f).where(f.c.model == model,
                                                      f.c.request_id.not_in(known))
        if since is not None:
            q = q.where(f.c.at >= since)
        with self.sql._read() as conn:
            return int(conn.execute(q).scalar() or 0)

    # alert rules --------------------------------------------------------------
    def add_rule(self, row: dict[str, Any]) -> None:
        """Insert an alert rule row."""
        with self.sql._write() as conn:
            conn.execute(insert(s.alert_rules).values(**row))

    def rules(self, model: str | None = None) -> list[dict[str, Any]]:
        """Return alert rules (of one model), oldest first."""
        t = s.alert_rules
        q = select(t).order_by(t.c.created_at, t.c.id)
        if model is not None:
            q = q.where(t.c.model == model)
        with self.sql._read() as conn:
            return [r._asdict() for r in conn.execute(q)]

    def get_rule(self, rule_id: str) -> dict[str, Any]:
        """Return one rule, or raise AlertRuleNotFound."""
        t = s.alert_rules
        with self.sql._read() as conn:
            row = conn.execute(select(t).where(t.c.id == rule_id)).first()
        if row is None:
            raise AlertRuleNotFound(rule_id)
        return row._asdict()

    def remove_rule(self, rule_id: str) -> None:
        """Delete a rule (its past events stay), or raise AlertRuleNotFound."""
        t = s.alert_rules
        with self.sql._write() as conn:
            if conn.execute(delete(t).where(t.c.id == rule_id)).rowcount == 0:
                raise AlertRuleNotFound(rule_id)

    def record_check(self, rule_id: str, value: float | None, at: float) -> None:
        """Remember a rule's last evaluated value."""
        t = s.alert_rules
        with self.sql._write() as conn:
            conn.execute(update(t).where(t.c.id == rule_id)
                         .values(last_value=value, last_checked_at=at))

    def fire(self, rule_id: str, event: dict[str, Any]) -> bool:
        """Mark a rule firing and store its event, atomically; False if it already fired."""
        t = s.alert_rules
        with self.sql._write() as conn:
            res = conn.execute(update(t).where(t.c.id == rule_id, t.c.firing.is_(False))
                               .values(firing=True))
            if res.rowcount == 0:
                return False
            conn.execute(insert(s.alert_events).values(
                **{**event, "pipeline_runs": json.dumps(event.get("pipeline_runs") or [])}))
        return True

    def clear(self, rule_id: str, at: float) -> bool:
        """Mark a firing rule as cleared and close its open event; False if it was not firing."""
        t, e = s.alert_rules, s.alert_events
        with self.sql._write() as conn:
            res = conn.execute(update(t).where(t.c.id == rule_id, t.c.firing.is_(True))
                               .values(firing=False))
            if res.rowcount == 0:
                return False
            conn.execute(update(e).where(e.c.rule_id == rule_id, e.c.cleared_at.is_(None))
                         .values(cleared_at=at))
        return True

    def set_event_runs(self, event_id: str, runs: list[dict[str, Any]]) -> None:
        """Record the pipeline runs an alert event started."""
        e = s.alert_events
        with self.sql._write() as conn:
            conn.execute(update(e).where(e.c.id == event_id)
                         .values(pipeline_runs=json.dumps(runs, default=str)))

    def events(self, model: str | None = None) -> list[dict[str, Any]]:
        """Return alert events (of one model), oldest first."""
        e = s.alert_events
        q = select(e).order_by(e.c.at, e.c.id)
        if model is not None:
            q = q.where(e.c.model == model)
        with self.sql._read() as conn:
            rows = [r._asdict() for r in conn.execute(q)]
        for r in rows:
            r["pipeline_runs"] = json.loads(r["pipeline_runs"])
        return rows


def monitoring_store(sql: SqlStore | None = None) -> MonitoringStore:
    """Return a MonitoringStore on ``sql`` or on the configured store."""
    if sql is None:
        from nbmlops.store import open_store

        sql, _ = open_store()
    return MonitoringStore(sql)
