"""Create the schema on first use and migrate stores written by older versions."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, inspect, select, update

from nbmlops.errors import StoreError
from nbmlops.store import schema as s

#: MIGRATIONS[n] upgrades a store from schema version n to n + 1, inside one transaction.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def stored_version(conn: Connection) -> int | None:
    """Return the schema version recorded in the database, or None for an empty one."""
    if not inspect(conn).has_table(s.meta.name):
        return None
    raw = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).scalar()
    return int(raw) if raw is not None else None


def migrate(engine: Engine) -> int:
    """Bring the database to ``SCHEMA_VERSION``; return the version it had before."""
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
            if before > s.SCHEMA_VERSION:
                raise StoreError(
                    f"this store has schema version {before}, written by a newer nbmlops; "
                    f"this nbmlops understands up to {s.SCHEMA_VERSION}: upgrade nbmlops"
                )
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
