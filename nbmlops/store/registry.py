"""Registry tables: model versions, aliases with their append-only audit log, check results."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from nbmlops.errors import ConflictError, ModelNotFound, ModelVersionConflict
from nbmlops.store import schema as s
from nbmlops.store._upsert import insert_if_absent
from nbmlops.store.sql import SqlStore


class RegistryStore:
    """Registry operations on top of a SqlStore's engine (same transactions, same URL)."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    # versions -------------------------------------------------------------
    def create_version(self, name: str, row: dict[str, Any], description: str | None) -> int:
        """Insert the next version of ``name`` (consecutive, unique under concurrency)."""
        for _attempt in range(20):
            try:
                with self.sql._write() as conn:
                    self._ensure_model(conn, name, description)
                    self._lock_model(conn, name)
                    mv = s.model_versions
                    current = conn.execute(
                        select(func.max(mv.c.version)).where(mv.c.name == name)).scalar()
                    version = int(current or 0) + 1
                    conn.execute(insert(mv).values(name=name, version=version, **row))
                    return version
            except ConflictError:
                time.sleep(0.05)  # a concurrent writer took this number; read again
        raise ModelVersionConflict(f"could not allocate a version of {name!r} after 20 attempts")

    def _ensure_model(self, conn: Connection, name: str, description: str | None) -> None:
        rm = s.registered_models
        if conn.execute(select(rm.c.name).where(rm.c.name == name)).first() is None:
            insert_if_absent(conn, rm, dict(name=name, description=description,
                                            created_at=time.time()))

    def _lock_model(self, conn: Connection, name: str) -> None:
        # PostgreSQL: serialise version allocation per model. SQLite already holds
        # the database write lock (BEGIN IMMEDIATE).
        if not self.sql.is_sqlite:
            rm = s.registered_models
            conn.execute(select(rm.c.name).where(rm.c.name == name).with_for_update())

    def get_version(self, name: str, version: int) -> dict[str, Any]:
        """Return one version row as a dict, or raise ModelNotFound."""
        mv = s.model_versions
        with self.sql._read() as conn:
            row = conn.execute(select(mv).where(mv.c.name == name, mv.c.version == version)).first()
        if row is None:
            known = self.version_numbers(name)
            hint = (f"{name} has versions {', '.join(map(str, known))}" if known
                    else "no model by that name; list them with `nbmlops models list`")
            raise ModelNotFound(f"{name}/{version}", hint)
        return self._decode(row._asdict())

    def update_meta(self, name: str, version: int, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into a version's meta (derived facts such as its verified ONNX)."""
        mv = s.model_versions
        where = (mv.c.name == name, mv.c.version == version)
        with self.sql._write() as conn:
            raw = conn.execute(select(mv.c.meta).where(*where)).scalar()
            if raw is None:
                raise ModelNotFound(f"{name}/{version}", "no such version")
            conn.execute(update(mv).where(*where).values(meta=json.dumps(
                {**json.loads(raw), **patch})))

    @staticmethod
    def _decode(d: dict[str, Any]) -> dict[str, Any]:
        d["meta"] = json.loads(d["meta"])
        d["metrics"] = json.loads(d["metrics"])
        d["tags"] = json.loads(d["tags"])
        d["unsafe"] = bool(d["unsafe"])
        return d

    def version_numbers(self, name: str) -> list[int]:
        """Return the version numbers of a model, ascending."""
        mv = s.model_versions
        with self.sql._read() as conn:
            return [r[0] for r in conn.execute(
                select(mv.c.version).where(mv.c.name == name).order_by(mv.c.version))]

    def list_versions(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return version rows (of one model, or all), newest first within a model."""
        mv = s.model_versions
        q = select(mv).order_by(mv.c.name, mv.c.version.desc())
        if name is not None:
            q = q.where(mv.c.name == name)
        with self.sql._read() as conn:
            return [self._decode(r._asdict()) for r in conn.execute(q)]

    def list_models(self) -> list[dict[str, Any]]:
        """Return registered models with their latest version number and count."""
        rm, mv = s.registered_models, s.model_versions
        q = (select(rm.c.name, rm.c.description, rm.c.created_at,
                    func.max(mv.c.version).label("latest_version"),
                    func.count(mv.c.version).label("versions"))
             .select_from(rm.outerjoin(mv, mv.c.name == rm.c.name))
             .group_by(rm.c.name, rm.c.description, rm.c.created_at).order_by(rm.c.name))
        with self.sql._read() as conn:
            return [r._asdict() for r in conn.execute(q)]

    # aliases ------------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, int]:
        """Return {alias: version} for a model."""
        ma = s.model_aliases
        with self.sql._read() as conn:
            return dict(conn.execute(select(ma.c.alias, ma.c.version).where(ma.c.name == name))
                        .all())

    def resolve_alias(self, name: str, alias: str) -> int:
        """Return the version an alias points at, or raise ModelNotFound."""
        found = self.aliases(name).get(alias)
        if found is None:
            known = self.aliases(name)
            hint = (f"{name} has aliases {', '.join(sorted(known))}" if known
                    else f"{name} has no aliases; set one with set_alias or %promote")
            raise ModelNotFound(f"{name}@{alias}", hint)
        return found

    def move_alias(self, name: str, alias: str, version: int | None, *, user: str,
                   reason: str | None, forced: bool = False) -> int | None:
        """Point ``alias`` at ``version`` (None deletes it); append to the audit log.

        Returns the version it pointed at before.
        """
        ma, ah = s.model_aliases, s.alias_history
        with self.sql._write() as conn:
            self._lock_model(conn, name)
            before = conn.execute(select(ma.c.version).where(ma.c.name == name,
                                                             ma.c.alias == alias)).scalar()
            conn.execute(ma.delete().where(ma.c.name == name, ma.c.alias == alias))
            if version is not None:
                conn.execute(insert(ma).values(name=name, alias=alias, version=version))
            conn.execute(insert(ah).values(name=name, alias=alias, from_version=before,
                                           to_version=version, user=user, at=time.time(),
                                           reason=reason, forced=forced))
        return int(before) if before is not None else None

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Return the audit log of a model's aliases, oldest first."""
        ah = s.alias_history
        q = select(ah).where(ah.c.name == name).order_by(ah.c.at, ah.c.id)
        if alias is not None:
            q = q.where(ah.c.alias == alias)
        with self.sql._read() as conn:
            return [r._asdict() for r in conn.execute(q)]

    # checks -------------------------------------------------------------------
    def add_check_results(self, name: str, version: int, batch_id: str,
                          results: list[dict[str, Any]]) -> None:
        """Store one batch of check results for a version."""
        now = time.time()
        rows = [dict(name=name, version=version, batch_id=batch_id, check=r["check"],
                     passed=bool(r["passed"]), value=json.dumps(r.get("value"), default=str),
                     threshold=json.dumps(r.get("threshold"), default=str),
                     detail=r.get("detail"), at=now) for r in results]
        with self.sql._write() as conn:
            if rows:
                conn.execute(insert(s.check_results), rows)

    def latest_checks(self, name: str, version: int) -> list[dict[str, Any]]:
        """Return the results of the most recent check batch of a version ([] if never checked)."""
        cr = s.check_results
        with self.sql._read() as conn:
            last = conn.execute(
                select(cr.c.batch_id).where(cr.c.name == name, cr.c.version == version)
                .order_by(cr.c.at.desc(), cr.c.id.desc()).limit(1)).scalar()
            if last is None:
                return []
            rows = conn.execute(select(cr).where(cr.c.batch_id == last).order_by(cr.c.id))
            out = []
            for r in rows:
                d = r._asdict()
                d["value"] = json.loads(d["value"]) if d["value"] else None
                d["threshold"] = json.loads(d["threshold"]) if d["threshold"] else None
                d["passed"] = bool(d["passed"])
                out.append(d)
            return out
