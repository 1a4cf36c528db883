"""SqlStore: the metadata store on SQLAlchemy Core, for sqlite:// and postgresql:// URLs."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update
from sqlalchemy import exc as sa_exc

from nbmlops._proc import pid_alive
from nbmlops.entities import ArtifactInfo, DatasetInfo, MetricPoint, RunRecord, RunStatus
from nbmlops.errors import (
    ArtifactNotFound,
    ConflictError,
    RunNotFound,
    StoreError,
    StoreUnavailableError,
)
from nbmlops.store import schema as s
from nbmlops.store.base import BaseStore, MetricRow
from nbmlops.store.filters import compile_filter, compile_order_by, parse_filter
from nbmlops.store.migrations import migrate

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

HOST = socket.gethostname()


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


class SqlStore(BaseStore):
    """The metadata store; one instance per URL per process is enough (it pools)."""

    def __init__(self, url: str, *, heartbeat_timeout: float = 30.0) -> None:
        self.url = url
        self.heartbeat_timeout = heartbeat_timeout
        self.is_sqlite = url.startswith("sqlite")
        self._known_envs: set[str] = set()  # environments this process already stored
        self.engine = self._make_engine(url)
        try:
            with self._translate():
                migrate(self.engine)
        except BaseException:
            self.engine.dispose()  # do not leak pooled connections of a store we refuse
            raise

    # connection plumbing ----------------------------------------------------
    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            return create_engine(url, pool_pre_ping=True, future=True)
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    path, f"cannot create its folder ({exc.strerror})",
                    "set NBMLOPS_HOME to a writable folder",
                ) from exc
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.execute("PRAGMA foreign_keys = ON")
            # LIKE is case-sensitive on PostgreSQL; make SQLite agree (ILIKE is the
            # case-insensitive form on both).
            cur.execute("PRAGMA case_sensitive_like = ON")
            try:
                cur.execute("PRAGMA journal_mode = WAL")
            except Exception:  # read-only folders cannot switch mode; reads still work
                pass
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the lock up front so concurrent writers wait (busy_timeout)
            # instead of failing on a read-to-write upgrade.
            write = conn.get_execution_options().get("nbmlops_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.IntegrityError as exc:
            raise ConflictError(f"the store refused a write: {exc.orig}") from exc
        except sa_exc.DatabaseError as exc:
            msg = str(getattr(exc, "orig", exc))
            low = msg.lower()
            if "readonly" in low or "read-only" in low:
                raise StoreUnavailableError(self.url, "it is read-only",
                                            "make the folder writable or point NBMLOPS_HOME "
                                            "elsewhere") from exc
            if "not a database" in low or "malformed" in low or "corrupt" in low:
                raise StoreUnavailableError(self.url, "the database file is corrupted",
                                            "restore it from a backup or move it away") from exc
            if "unable to open" in low:
                raise StoreUnavailableError(self.url, "the database file cannot be opened",
                                            "check that the folder exists and is writable") from exc
            raise StoreError(f"database error on {self.url}: {msg}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translate(), self.engine.connect() as conn:
            conn = conn.execution_options(nbmlops_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translate(), self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # experiments ------------------------------------------------------------
    def _experiment_id(self, conn: Connection, name: str) -> int:
        query = select(s.experiments.c.id).where(s.experiments.c.name == name)
        row = conn.execute(query).first()
        if row:
            return int(row[0])
        if self.is_sqlite:  # BEGIN IMMEDIATE already serialises writers
            res = conn.execute(insert(s.experiments).values(name=name, created_at=time.time()))
            pk = res.inserted_primary_key
            assert pk is not None  # a single-row INSERT always reports its primary key
            return int(pk[0])
        # PostgreSQL: two sessions may create the same experiment at once; let one win
        # instead of failing the other's create_run with a unique violation.
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(s.experiments).values(name=name, created_at=time.time())
                     .on_conflict_do_nothing(index_elements=[s.experiments.c.name]))
        return int(conn.execute(query).scalar_one())

    def list_experiments(self) -> list[str]:
        """Return experiment names, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(s.experiments.c.name).order_by(s.experiments.c.id))
            return [r[0] for r in rows]

    # runs -------------------------------------------------------------------
    def create_run(self, experiment: str, name: str, **fields: Any) -> RunRecord:
        """Insert a RUNNING run and return it."""
        import uuid

        run_id = fields.pop("id", None) or uuid.uuid4().hex
        now = time.time()
        values = dict(
            id=run_id, name=name, status=RunStatus.RUNNING.value, start_time=now,
            heartbeat_at=now, pid=os.getpid(), host=HOST, **fields,
        )
        with self._write() as conn:
            if values.get("parent_run_id"):
                self._require_run(conn, values["parent_run_id"])
            values["experiment_id"] = self._experiment_id(conn, experiment)
            conn.execute(insert(s.runs).values(**values))
        return self.get_run(run_id, reap=False)

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is None:
            raise RunNotFound(run_id)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Update columns of a run."""
        with self._write() as conn:
            res = conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(**fields))
            if res.rowcount == 0:
                raise RunNotFound(run_id)

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Mark a run ended now with ``status``."""
        fields: dict[str, Any] = {"status": status.value, "end_time": time.time()}
        if error is not None:
            fields["error"] = error
        self.update_run(run_id, **fields)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that the process owning these runs is alive."""
        if not run_ids:
            return
        with self._write() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id.in_(list(run_ids)))
                         .values(heartbeat_at=time.time()))

    def _record(self, row: Any) -> RunRecord:
        return RunRecord(
            id=row.id, experiment=row.experiment, name=row.name, status=RunStatus(row.status),
            start_time=_dt(row.start_time), end_time=_dt(row.end_time),  # type: ignore[arg-type]
            parent_run_id=row.parent_run_id, notebook_path=row.notebook_path, source=row.source,
            source_hash=row.source_hash, git_commit=row.git_commit,
            git_dirty=None if row.git_dirty is None else bool(row.git_dirty),
            execution_count=row.execution_count, error=row.error,
            environment_hash=row.environment_hash, provenance_status=row.provenance_status,
            pid=row.pid, host=row.host,
        )

    def _runs_select(self) -> Any:
        return select(s.runs, s.experiments.c.name.label("experiment")).join(
            s.experiments, s.experiments.c.id == s.runs.c.experiment_id
        )

    def get_run(self, run_id: str, *, reap: bool = True) -> RunRecord:
        """Return one run or raise RunNotFound."""
        if reap:
            self.reap_dead_runs()
        with self._read() as conn:
            row = conn.execute(self._runs_select().where(s.runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(run_id, "list runs with `nbmlops runs list`")
        return self._record(row)

    def get_provenance(self, run_id: str) -> dict[str, Any]:
        """Return the stored provenance JSON of a run ({} when none)."""
        with self._read() as conn:
            raw = conn.execute(select(s.runs.c.provenance).where(s.runs.c.id == run_id)).scalar()
        return json.loads(raw) if raw else {}

    def _search_query(self, query: Any, experiment: str | None, filter: str | None,
                      order_by: Sequence[str] | None, max_results: int | None) -> Any:
        self.reap_dead_runs()
        if experiment is not None:
            query = query.where(s.experiments.c.name == experiment)
        if filter and filter.strip():
            node = parse_filter(filter)
            query = query.where(compile_filter(filter, node, self._key_probe))
        if order_by:
            query = query.order_by(*compile_order_by(list(order_by), self._key_probe))
        query = query.order_by(s.runs.c.start_time.desc())
        if max_results is not None:
            query = query.limit(int(max_results))
        return query

    def search_runs(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        """Return runs matching a filter expression, evaluated in the database."""
        query = self._search_query(self._runs_select(), experiment, filter, order_by,
                                   max_results)
        with self._read() as conn:
            return [self._record(r) for r in conn.execute(query)]

    def search_run_summaries(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[tuple[Any, ...]]:
        """Return (id, name, experiment, status, start, end, parent, provenance) tuples.

        The same search as :meth:`search_runs` without building full records: the runs
        table of ``nbmlops.runs()`` needs only these columns.
        """
        r = s.runs.c
        base = select(r.id, r.name, s.experiments.c.name, r.status, r.start_time, r.end_time,
                      r.parent_run_id, r.provenance_status).join(
            s.experiments, s.experiments.c.id == r.experiment_id)
        query = self._search_query(base, experiment, filter, order_by, max_results)
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def reap_dead_runs(self) -> list[str]:
        """Mark RUNNING runs whose process is gone as KILLED; return their ids."""
        now = time.time()
        with self._read() as conn:
            rows = conn.execute(
                select(s.runs.c.id, s.runs.c.pid, s.runs.c.host, s.runs.c.heartbeat_at)
                .where(s.runs.c.status == RunStatus.RUNNING.value)
            ).all()
        dead = []
        for run_id, pid, host, beat in rows:
            if host == HOST and pid == os.getpid():
                continue
            if host == HOST and pid and not pid_alive(pid):
                dead.append(run_id)
            elif beat is not None and now - beat > self.heartbeat_timeout:
                dead.append(run_id)
        if dead:
            with self._write() as conn:
                conn.execute(
                    update(s.runs)
                    .where(s.runs.c.id.in_(dead), s.runs.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.KILLED.value,
                            end_time=func.coalesce(s.runs.c.heartbeat_at, now),
                            error="the process running this run died (no heartbeat)")
                )
        return dead

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
        t = s.metrics
        with self._read() as conn:
            rows = conn.execute(
                select(t.c.value, t.c.is_nan, t.c.step, t.c.timestamp)
                .where(t.c.run_id == run_id, t.c.key == key)
                .order_by(t.c.step, t.c.timestamp, t.c.id)
            ).all()
        return [MetricPoint(key, float("nan") if nan else float(v), int(step), _dt(ts))  # type: ignore[arg-type]
                for v, nan, step, ts in rows]

    def get_tags(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return {run_id: {key: value}}."""
        out: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for run_id, key, value in self._by_run(s.tags, [s.tags.c.key, s.tags.c.value], run_ids):
            out[run_id][key] = value
        return out

    def _key_probe(self, kind: str) -> _KeyProbe:
        return _KeyProbe(self, kind)

    def has_key(self, kind: str, key: str) -> bool:
        """Return whether any run logged this metric/param/tag key (an index lookup)."""
        table = {"metrics": s.latest_metrics, "params": s.params, "tags": s.tags}[kind]
        with self._read() as conn:
            return conn.execute(select(table.c.key).where(table.c.key == key).limit(1)) \
                .first() is not None

    def known_keys(self, kind: str, experiment: str | None = None) -> set[str]:
        """Return the distinct metric/param/tag keys ever logged."""
        table = {"metrics": s.latest_metrics, "params": s.params, "tags": s.tags}[kind]
        with self._read() as conn:
            return {r[0] for r in conn.execute(select(table.c.key).distinct())}

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
            d = s.datasets
            if conn.execute(select(d.c.fingerprint)
                            .where(d.c.fingerprint == info.fingerprint)).first() is None:
                conn.execute(insert(d).values(
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
            if conn.execute(select(e.c.hash).where(e.c.hash == env_hash)).first():
                self._known_envs.add(env_hash)
                return
            conn.execute(insert(e).values(
                hash=env_hash, python_version=env["python_version"], platform=env["platform"],
                packages=json.dumps(env["packages"]), imported=json.dumps(env["imported"]),
                upgraded=json.dumps(env["upgraded"]), variables=json.dumps(env["variables"]),
                created_at=time.time(),
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


class _KeyProbe:
    """The keys of one kind, as filters use them: membership is one indexed lookup.

    Listing them (``sorted(probe)``, for an error message) reads every distinct key,
    which is only needed when a filter names a key that does not exist.
    """

    def __init__(self, store: SqlStore, kind: str) -> None:
        self.store, self.kind = store, kind

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.store.has_key(self.kind, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.known_keys(self.kind))
