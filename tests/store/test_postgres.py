"""The store contract on a real PostgreSQL server (``NBMLOPS_TEST_PG_URL``).

Each test gets its own schema (``search_path``), dropped afterwards, so tests never
see each other's rows. Set the URL up with ``eval "$(.ci/postgres.sh)"``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from nbmlops.store.sql import SqlStore
from tests.conftest import require
from tests.store.contract import Reopen, StoreContract

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url() -> str:
    url = os.environ.get("NBMLOPS_TEST_PG_URL", "")
    require(bool(url), "NBMLOPS_TEST_PG_URL is not set (run: eval \"$(.ci/postgres.sh)\")")
    return url


@pytest.fixture
def schema_url(pg_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # a URL that is set but unreachable is a failure in CI
        admin.dispose()
        require(False, f"cannot reach PostgreSQL at {pg_url}: {exc}")
    sep = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


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
