"""SqlBase: engine, transactions and error translation shared by the SqlStore parts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy import exc as sa_exc

from nbmlops.errors import (
    ConflictError,
    RunNotFound,
    StoreError,
    StoreUnavailableError,
)
from nbmlops.store import schema as s
from nbmlops.store.base import BaseStore
from nbmlops.store.migrations import migrate

HOST = socket.gethostname()


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


class SqlBase(BaseStore):
    """Connection plumbing of the SQL store; the parts in sql_*.py build on it."""

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

    def _require_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is None:
            raise RunNotFound(run_id)

