"""Race-free insert-if-absent for rows keyed by a natural key (both dialects).

SQLite serialises writers (BEGIN IMMEDIATE), PostgreSQL does not: two sessions that
check "absent?" and then insert the same deduplicated row would make one of them fail
with a unique violation. ``INSERT … ON CONFLICT DO NOTHING`` lets one win and the other
carry on, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_if_absent(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a row with the same primary key exists; return if inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return bool(conn.execute(stmt).rowcount)
