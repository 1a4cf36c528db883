"""Create the schema on first use and migrate stores written by older versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, inspect, select, update

from nbmlops.errors import StoreError
from nbmlops.store import schema as s


def _v1_run_order_indexes(conn: Connection) -> None:
    """Version 1 -> 2: index runs by (start_time, id) so pages stop at their LIMIT."""
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_runs_experiment_start")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_runs_start ON runs (start_time, id)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_runs_experiment_start_id "
                         "ON runs (experiment_id, start_time, id)")


def _v2_covering_value_indexes(conn: Connection) -> None:
    """Version 2 -> 3: (key, value, run_id) indexes, so a filter's run set is index-only."""
    for table in ("params", "latest_metrics"):
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS ix_{table}_key_value")
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_key_value_run "
                             f"ON {table} (key, value, run_id)")


#: MIGRATIONS[n] upgrades a store from schema version n to n + 1, inside one transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_run_order_indexes,
                                                        2: _v2_covering_value_indexes}


def stored_version(conn: Connection) -> int | None:
    """Return the schema version recorded in the database, or None for an empty one."""
    if not inspect(conn).has_table(s.meta.name):
        return None
    raw = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).scalar()
    return int(raw) if raw is not None else None


def _missing_tables(conn: Connection) -> set[str]:
    return set(s.metadata.tables) - set(inspect(conn).get_table_names())


def _refuse_newer(before: int) -> None:
    if before > s.SCHEMA_VERSION:
        raise StoreError(
            f"this store has schema version {before}, written by a newer nbmlops; "
            f"this nbmlops understands up to {s.SCHEMA_VERSION}: upgrade nbmlops"
        )


def is_current(engine: Engine) -> bool:
    """Return whether the store needs no migration and no new table (a read, no lock)."""
    with engine.connect() as conn, conn.begin():
        before = stored_version(conn)
        if before is not None:
            _refuse_newer(before)
        return before == s.SCHEMA_VERSION and not _missing_tables(conn)


def backup_path(db: Path, version: int) -> Path:
    """Return where the copy of a version-``version`` SQLite store is kept before upgrading."""
    return db.with_name(f"{db.name}.v{version}.backup")


def backup_sqlite(engine: Engine) -> Path | None:
    """Copy an SQLite store that is about to be upgraded (once per old version).

    Returns the backup's path, or None when there is nothing to back up (a new or current
    store, or not SQLite). SQLite's online backup copies a consistent snapshot even while
    other processes write.
    """
    import sqlite3

    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:":
        return None
    with engine.connect() as conn:
        before = stored_version(conn)
    if before is None or before >= s.SCHEMA_VERSION:
        return None
    target = backup_path(Path(db), before)
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        with sqlite3.connect(db) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        dst.close()
        src.close()
        partial.replace(target)  # never leave a half-written backup under the final name
    return target


def migrate(engine: Engine) -> int:
    """Bring the database to ``SCHEMA_VERSION``; return the version it had before.

    A store that is already current is only read: opening it takes no write lock, so a
    store on a read-only disk opens, and opening never waits for a busy writer.
    """
    if is_current(engine):
        return s.SCHEMA_VERSION
    backup_sqlite(engine)
    with engine.connect() as conn:
        conn = conn.execution_options(nbmlops_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                # Serialise first-time creation and upgrades across processes and machines;
                # SQLite gets the same from BEGIN IMMEDIATE.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7346129015)")
            before = stored_version(conn)
            if before is None:
                s.metadata.create_all(conn)
                conn.execute(insert(s.meta).values(key="schema_version",
                                                   value=str(s.SCHEMA_VERSION)))
                return 0
            _refuse_newer(before)
            for version in range(before, s.SCHEMA_VERSION):
                MIGRATIONS[version](conn)
            # New tables are additive and need no migration: whichever this build knows
            # and the store lacks are created here, for every part of nbmlops at once.
            # Changes to existing tables are what MIGRATIONS and SCHEMA_VERSION are for.
            s.metadata.create_all(conn, checkfirst=True)
            if before != s.SCHEMA_VERSION:
                conn.execute(update(s.meta).where(s.meta.c.key == "schema_version")
                             .values(value=str(s.SCHEMA_VERSION)))
            return before
