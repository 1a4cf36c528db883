"""Artifacts records, dataset fingerprints and environments of runs."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import insert, select

from nbmlops.entities import ArtifactInfo, DatasetInfo
from nbmlops.errors import (
    ArtifactNotFound,
)
from nbmlops.store import schema as s
from nbmlops.store._upsert import insert_if_absent
from nbmlops.store.sqlbase import SqlBase, _dt


class RecordsMixin(SqlBase):
    """Artifact records, datasets and environments (deduplicated)."""

    # artifacts / datasets / environments -----------------------------------
    def add_artifact(self, run_id: str, info: ArtifactInfo, meta: dict[str, Any] | None) -> None:
        """Record (or replace) a named artifact of a run."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            t = s.artifacts
            conn.execute(t.delete().where(t.c.run_id == run_id, t.c.name == info.name))
            conn.execute(insert(t).values(
                run_id=run_id, name=info.name, sha256=info.sha256, size=info.size,
                media_type=info.media_type, created_at=time.time(),
                meta=json.dumps(meta) if meta else None,
            ))

    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        """Return a run's artifacts, by name."""
        t = s.artifacts
        with self._read() as conn:
            rows = conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.name)).all()
        return [ArtifactInfo(r.name, r.sha256, r.size, r.media_type, _dt(r.created_at))
                for r in rows]

    def get_artifact(self, run_id: str, name: str) -> tuple[ArtifactInfo, dict[str, Any]]:
        """Return one artifact and its metadata, or raise ArtifactNotFound."""
        t = s.artifacts
        with self._read() as conn:
            r = conn.execute(select(t).where(t.c.run_id == run_id, t.c.name == name)).first()
        if r is None:
            names = [a.name for a in self.list_artifacts(run_id)]
            raise ArtifactNotFound(name, f"run {run_id} has: {', '.join(names) or 'no artifacts'}")
        info = ArtifactInfo(r.name, r.sha256, r.size, r.media_type, _dt(r.created_at))
        return info, (json.loads(r.meta) if r.meta else {})

    def add_dataset(self, run_id: str, info: DatasetInfo) -> None:
        """Store a dataset fingerprint (once) and link it to a run."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            insert_if_absent(conn, s.datasets, dict(
                fingerprint=info.fingerprint, kind=info.kind, shape=json.dumps(info.shape),
                columns=json.dumps(info.columns), dtypes=json.dumps(info.dtypes),
                stats=json.dumps(info.stats, default=str), created_at=time.time(),
            ))
            rd = s.run_datasets
            conn.execute(rd.delete().where(rd.c.run_id == run_id, rd.c.name == info.name,
                                           rd.c.role == info.role))
            conn.execute(insert(rd).values(run_id=run_id, name=info.name, role=info.role,
                                           fingerprint=info.fingerprint))

    def list_datasets(self, run_id: str) -> list[DatasetInfo]:
        """Return the datasets linked to a run."""
        d, rd = s.datasets, s.run_datasets
        with self._read() as conn:
            rows = conn.execute(
                select(rd.c.name, rd.c.role, d)
                .join(d, d.c.fingerprint == rd.c.fingerprint)
                .where(rd.c.run_id == run_id).order_by(rd.c.role, rd.c.name)
            ).all()
        return [DatasetInfo(r.fingerprint, r.name, r.kind, tuple(json.loads(r.shape)),
                            json.loads(r.columns), json.loads(r.dtypes), json.loads(r.stats),
                            r.role) for r in rows]

    def put_environment(self, env_hash: str, env: dict[str, Any]) -> None:
        """Store an environment once per hash."""
        e = s.environments
        if env_hash in self._known_envs:
            return
        with self._write() as conn:
            if not conn.execute(select(e.c.hash).where(e.c.hash == env_hash)).first():
                insert_if_absent(conn, e, dict(
                    hash=env_hash, python_version=env["python_version"],
                    platform=env["platform"], packages=json.dumps(env["packages"]),
                    imported=json.dumps(env["imported"]), upgraded=json.dumps(env["upgraded"]),
                    variables=json.dumps(env["variables"]), created_at=time.time(),
                ))
        self._known_envs.add(env_hash)

    def get_environment(self, env_hash: str) -> dict[str, Any]:
        """Return a stored environment ({} when unknown)."""
        e = s.environments
        with self._read() as conn:
            r = conn.execute(select(e).where(e.c.hash == env_hash)).first()
        if r is None:
            return {}
        return dict(hash=r.hash, python_version=r.python_version, platform=r.platform,
                    packages=json.loads(r.packages), imported=json.loads(r.imported),
                    upgraded=json.loads(r.upgraded), variables=json.loads(r.variables))
