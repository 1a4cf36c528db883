"""The store contract on a real PostgreSQL server (``NBMLOPS_TEST_PG_URL``).

Each test gets its own schema (``search_path``), dropped afterwards, so tests never
see each other's rows. Set the URL up with ``eval "$(.ci/postgres.sh)"``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nbmlops.store.sql import SqlStore
from tests.store.contract import Reopen, StoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    """Every contract test against a fresh PostgreSQL schema."""

    @pytest.fixture
    def store(self, schema_url: str) -> Iterator[SqlStore]:
        store = SqlStore(schema_url)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, schema_url: str) -> Reopen:
        return lambda: SqlStore(schema_url)


def test_tables_live_in_the_test_schema(schema_url: str) -> None:
    store = SqlStore(schema_url)
    try:
        with store._read() as conn:
            assert conn.exec_driver_sql("SELECT current_schema()").scalar().startswith("t_")
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_name = 'runs'").scalar() == 1
    finally:
        store.close()
