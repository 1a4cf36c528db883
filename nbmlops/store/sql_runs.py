"""Experiments and runs: create, update, search, and reap runs whose process died."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from nbmlops._proc import pid_alive
from nbmlops.entities import RunRecord, RunStatus
from nbmlops.errors import (
    FilterError,
    RunNotFound,
)
from nbmlops.store import schema as s
from nbmlops.store.filters import (
    Node,
    compile_filter,
    compile_order_by,
    has_value_comparison,
    parse_filter,
)
from nbmlops.store.sqlbase import HOST, SqlBase, _dt


class RunsMixin(SqlBase):
    """Runs and experiments, and the searches over them."""

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
        # instead of failing the other's create_run with a unique violation (the name is
        # unique, not the primary key, hence no insert_if_absent here).
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

    def _where(self, query: Any, experiment: str | None, filter: str | None) -> Any:
        if filter is not None and not isinstance(filter, str):
            raise FilterError(repr(filter), "a filter is a string such as "
                              "\"metrics.acc > 0.9 and params.model = 'rf'\"")
        node = parse_filter(filter) if filter and filter.strip() else None
        if experiment is not None:
            query = query.where(self._in_experiment(experiment, node))
        if node is not None:
            query = query.where(compile_filter(filter or "", node, self._key_probe))
        return query

    def _in_experiment(self, experiment: str, node: Node | None) -> Any:
        if node is None or not has_value_comparison(node):
            return s.experiments.c.name == experiment  # read in (experiment, start) order
        # The filter's sets of matching runs are what the database should read first;
        # ``+ 0`` keeps SQLite (no statistics by default) from walking every run of
        # the experiment in index order and probing those sets for each one instead.
        # PostgreSQL plans from its statistics: there, an expression's default estimate
        # (0.5% of the runs) made it probe the sets once per run (100k runs: 180 ms).
        exp_id = select(s.experiments.c.id).where(s.experiments.c.name == experiment)
        column = s.runs.c.experiment_id + 0 if self.is_sqlite else s.runs.c.experiment_id
        return column == exp_id.scalar_subquery()

    def _search_query(self, query: Any, experiment: str | None, filter: str | None,
                      order_by: Sequence[str] | None, max_results: int | None,
                      offset: int = 0) -> Any:
        self.reap_dead_runs()
        query = self._where(query, experiment, filter)
        if order_by:
            query = query.order_by(*compile_order_by(order_by, self._key_probe))
        # the run id breaks ties, so that pages of one query never overlap or skip a run
        query = query.order_by(s.runs.c.start_time.desc(), s.runs.c.id.desc())
        if max_results is not None:
            query = query.limit(int(max_results))
        if offset:
            query = query.offset(int(offset))
        return query

    def count_runs(self, experiment: str | None = None, filter: str | None = None) -> int:
        """Return how many runs match, counted in the database."""
        query = self._where(
            select(func.count()).select_from(s.runs.join(
                s.experiments, s.experiments.c.id == s.runs.c.experiment_id)),
            experiment, filter)
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def count_rows(self) -> dict[str, int]:
        """Return row counts of runs, experiments, models, model versions and deployments."""
        tables = {"runs": s.runs, "experiments": s.experiments,
                  "models": s.registered_models, "model_versions": s.model_versions,
                  "deployments": s.deployments}
        with self._read() as conn:
            return {name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                    for name, t in tables.items()}

    def schema_version(self) -> int | None:
        """Return the schema version recorded in the database."""
        from nbmlops.store.migrations import stored_version

        with self._read() as conn:
            return stored_version(conn)

    def size_bytes(self) -> int | None:
        """Return the metadata database's size on disk (None when it cannot be told)."""
        if self.is_sqlite:
            path = self.url.split("sqlite:///", 1)[-1]
            if not path or path == ":memory:":
                return None
            return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal")
                       if os.path.exists(path + suffix))
        with self._read() as conn:
            size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        return int(size) if size is not None else None

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

    def latest_run(self, parent_run_id: str | None) -> RunRecord | None:
        """Return the most recently started run whose parent is ``parent_run_id`` (None: top)."""
        self.reap_dead_runs()
        parent = s.runs.c.parent_run_id
        query = (self._runs_select()
                 .where(parent.is_(None) if parent_run_id is None else parent == parent_run_id)
                 .order_by(s.runs.c.start_time.desc(), s.runs.c.id.desc()).limit(1))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._record(row)

    def search_run_summaries(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        offset: int = 0,
    ) -> list[tuple[Any, ...]]:
        """Return (id, name, experiment, status, start, end, parent, provenance) tuples.

        The same search as :meth:`search_runs` without building full records: the runs
        table of ``nbmlops.runs()`` needs only these columns.
        """
        r = s.runs.c
        base = select(r.id, r.name, s.experiments.c.name, r.status, r.start_time, r.end_time,
                      r.parent_run_id, r.provenance_status).join(
            s.experiments, s.experiments.c.id == r.experiment_id)
        query = self._search_query(base, experiment, filter, order_by, max_results, offset)
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def reap_dead_runs(self) -> list[str]:
        """Mark RUNNING runs whose process is gone as KILLED; return their ids."""
        if self.read_only:
            return []  # a read-only store is shown as it is; its writer reaps it
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



class _KeyProbe:
    """The keys of one kind, as filters use them: membership is one indexed lookup.

    Listing them (``sorted(probe)``, for an error message) reads every distinct key,
    which is only needed when a filter names a key that does not exist.
    """

    def __init__(self, store: RunsMixin, kind: str) -> None:
        self.store, self.kind = store, kind

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.store.has_key(self.kind, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.known_keys(self.kind))
