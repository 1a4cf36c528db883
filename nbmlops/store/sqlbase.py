"""SqlBase: engine, transactions and error translation shared by the SqlStore parts."""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy import exc as sa_exc

from nbmlops.config import redact_urls
from nbmlops.errors import (
    ConflictError,
    RunNotFound,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from nbmlops.store import schema as s
from nbmlops.store.base import BaseStore
from nbmlops.store.migrations import migrate

HOST = socket.gethostname()
#: seconds to wait for a database server to answer a new connection (libpq waits forever
#: by default: an unreachable host would hang every call); a URL's own connect_timeout wins
CONNECT_TIMEOUT = 10


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


class SqlBase(BaseStore):
    """Connection plumbing of the SQL store; the parts in sql_*.py build on it."""

    def __init__(self, url: str, *, heartbeat_timeout: float = 30.0) -> None:
        self.url = url
        self.shown_url = redact_urls(url)  # for messages: never a password
        self.heartbeat_timeout = heartbeat_timeout
        self.is_sqlite = url.startswith("sqlite")
        self.read_only = False  # set when a SQLite file this user cannot write is opened
        self._known_envs: set[str] = set()  # environments this process already stored
        self.engine = self._make_engine(url)
        try:
            with self._translate():
                #: the schema version the store had when this process opened it (0: new)
                self.opened_at_version = migrate(self.engine)
        except BaseException:
            self.engine.dispose()  # do not leak pooled connections of a store we refuse
            raise

    # connection plumbing ----------------------------------------------------
    def _make_engine(self, url: str) -> Engine:
        if not self.is_sqlite:
            args = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT}
            return create_engine(url, pool_pre_ping=True, future=True, connect_args=args)
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:") and "?" not in path:
            url = self._prepare_file(Path(path))
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

    def _prepare_file(self, db: Path) -> str:
        """Create, refuse or open read-only the SQLite file ``db``; return the URL to open."""
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                str(db), f"cannot create its folder ({exc.strerror})",
                "set NBMLOPS_HOME to a writable folder",
            ) from exc
        if not db.exists() and os.access(db.parent, os.W_OK):
            _create_sqlite(db)
        if db.exists() and db.stat().st_size == 0:
            # SQLite would take an empty file for a new database and silently start over,
            # orphaning every blob the lost database pointed to.
            raise StoreUnavailableError(self.shown_url, "the database file is corrupted (it is "
                                        "empty, 0 bytes)", "restore it from a backup or move it "
                                        "away")
        if db.exists() and not (os.access(db, os.W_OK) and os.access(db.parent, os.W_OK)):
            self.read_only = True
            return _read_only_url(db)
        return f"sqlite:///{db}"

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.IntegrityError as exc:
            raise ConflictError(f"the store refused a write: {exc.orig}") from exc
        except OverflowError as exc:  # SQLite binds 64-bit integers only
            raise ValidationError(f"a number given is too large for the store ({exc}); "
                                  f"integers go up to {2**63 - 1}") from None
        except sa_exc.DatabaseError as exc:
            msg = str(getattr(exc, "orig", exc))
            low = msg.lower()
            if "readonly" in low or "read-only" in low:
                raise StoreUnavailableError(self.shown_url, "it is read-only",
                                            "make the folder writable or point NBMLOPS_HOME "
                                            "elsewhere") from exc
            if "not a database" in low or "malformed" in low or "corrupt" in low:
                raise StoreUnavailableError(self.shown_url, "the database file is corrupted",
                                            "restore it from a backup or move it away") from exc
            if "unable to open" in low:
                raise StoreUnavailableError(self.shown_url, "the database file cannot be opened",
                                            "check that the folder exists and is writable") from exc
            if isinstance(exc, sa_exc.OperationalError) and (
                    "connection failed" in low or "timeout expired" in low):
                raise StoreUnavailableError(
                    self.shown_url, f"cannot connect ({msg.strip().splitlines()[0]})",
                    "check the host, port, user and password of NBMLOPS_STORE_URL") from exc
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == "22003":
                raise ValidationError(f"a number given is out of range for the store "
                                      f"({msg.strip()})") from None  # PostgreSQL
            raise StoreError(f"database error on {self.shown_url}: {msg}") from exc

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



def _create_sqlite(db: Path) -> None:
    """Create an empty WAL-mode database at ``db`` without ever showing a 0-byte file there.

    The file is built under a temporary name and hard-linked into place, so a process
    opening the store at the same moment sees either no file or a valid database (a
    0-byte ``nbmlops.db`` is refused as corrupted).
    """
    tmp = db.with_name(f".{db.name}.{uuid.uuid4().hex}.new")
    try:
        conn = sqlite3.connect(tmp)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        try:
            os.link(tmp, db)
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError:  # a filesystem without hard links
            if not db.exists():
                os.replace(tmp, db)
    except (OSError, sqlite3.Error):
        pass  # let SQLite's own open report the problem
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


def _read_only_url(db: Path) -> str:
    """Return the URL opening ``db`` read-only.

    SQLite cannot open a WAL database read-only unless its ``-wal`` and ``-shm`` files
    exist (they are removed when the last writer closes cleanly) or the file is opened
    as immutable; immutable reads do not see changes made while the store is open.
    """
    wal = db.with_name(db.name + "-wal").exists() and db.with_name(db.name + "-shm").exists()
    flags = "mode=ro" if wal else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(db))}?{flags}&uri=true"
