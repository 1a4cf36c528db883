"""Serving tables: deployments, prediction logs and ground-truth feedback."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from nbmlops.errors import NotFoundError
from nbmlops.store import schema as s
from nbmlops.store.sql import SqlStore


class DeploymentNotFound(NotFoundError):
    """No deployment has this name, id or port."""

    kind = "deployment"


class ServingStore:
    """Serving operations on top of a SqlStore's engine (same transactions, same URL)."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    # deployments ------------------------------------------------------------
    def add_deployment(self, row: dict[str, Any]) -> None:
        """Insert a deployment row (``id`` and the non-null columns are required)."""
        with self.sql._write() as conn:
            conn.execute(insert(s.deployments).values(**row))

    def update_deployment(self, deployment_id: str, **fields: Any) -> None:
        """Update columns of a deployment (status, pid, stopped_at…)."""
        d = s.deployments
        with self.sql._write() as conn:
            res = conn.execute(update(d).where(d.c.id == deployment_id).values(**fields))
            if res.rowcount == 0:
                raise DeploymentNotFound(deployment_id)

    def list_deployments(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        """Return deployment rows, newest first (only starting/running ones if asked)."""
        d = s.deployments
        q = select(d).order_by(d.c.started_at.desc())
        if active_only:
            q = q.where(d.c.status.in_(("starting", "running")))
        with self.sql._read() as conn:
            return [r._asdict() for r in conn.execute(q)]

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Return one deployment row by id, or raise DeploymentNotFound."""
        d = s.deployments
        with self.sql._read() as conn:
            row = conn.execute(select(d).where(d.c.id == deployment_id)).first()
        if row is None:
            raise DeploymentNotFound(deployment_id)
        return row._asdict()

    # prediction logs and feedback -------------------------------------------
    def add_predictions(self, rows: list[dict[str, Any]]) -> None:
        """Insert prediction log rows in one transaction (``inputs``/``outputs`` as JSON-able)."""
        if not rows:
            return
        payload = [{**r, "inputs": _dumps(r["inputs"]), "outputs": _dumps(r["outputs"])}
                   for r in rows]
        with self.sql._write() as conn:
            conn.execute(insert(s.prediction_logs), payload)

    def add_feedback(self, rows: list[dict[str, Any]]) -> None:
        """Insert ground-truth rows ``{request_id, model, label, at}`` in one transaction."""
        if not rows:
            return
        payload = [{**r, "label": _dumps(r["label"])} for r in rows]
        with self.sql._write() as conn:
            conn.execute(insert(s.prediction_feedback), payload)

    def known_request_ids(self, model: str, ids: list[str]) -> set[str]:
        """Return which of ``ids`` are logged predictions of ``model``."""
        p = s.prediction_logs
        q = select(p.c.request_id).where(p.c.model == model, p.c.request_id.in_(ids)).distinct()
        with self.sql._read() as conn:
            return {r for (r,) in conn.execute(q)}

    def predictions(self, model: str, *, version: int | None = None, since: float | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:
        """Return logged predictions of a model (newest first), with any feedback labels."""
        p, f = s.prediction_logs, s.prediction_feedback
        q = select(p).where(p.c.model == model).order_by(p.c.at.desc(), p.c.id.desc())
        if version is not None:
            q = q.where(p.c.version == version)
        if since is not None:
            q = q.where(p.c.at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self.sql._read() as conn:
            rows = [r._asdict() for r in conn.execute(q)]
            ids = [r["request_id"] for r in rows]
            labels: dict[str, Any] = {}
            if ids:
                fq = (select(f.c.request_id, f.c.label).where(f.c.request_id.in_(ids))
                      .order_by(f.c.id))
                labels = {rid: json.loads(label) for rid, label in conn.execute(fq)}
        for r in rows:
            r["inputs"] = json.loads(r["inputs"])
            r["outputs"] = json.loads(r["outputs"])
            r["label"] = labels.get(r["request_id"])
        return rows


def _dumps(value: Any) -> str:
    # allow_nan: inputs may legitimately hold NaN for models that take missing values
    return json.dumps(value, default=_default, separators=(",", ":"))


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def serving_store(sql: SqlStore | None = None) -> ServingStore:
    """Return a ServingStore on ``sql`` or on the configured store."""
    if sql is None:
        from nbmlops.store import open_store

        sql, _ = open_store()
    return ServingStore(sql)
