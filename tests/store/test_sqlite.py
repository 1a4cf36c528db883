"""The store contract on embedded SQLite in a temporary folder, plus SQLite specifics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nbmlops.store.sql import SqlStore
from tests.store.contract import Reopen, StoreContract


class TestSqliteStore(StoreContract):
    """Every contract test against a fresh SQLite file."""

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'store' / 'nbmlops.db'}"

    @pytest.fixture
    def store(self, url: str) -> Iterator[SqlStore]:
        store = SqlStore(url)
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, url: str) -> Reopen:
        return lambda: SqlStore(url)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'nbmlops.db'}")
    try:
        with store._read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        store.close()
