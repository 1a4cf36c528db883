"""PostgreSQL fixtures: a real server from ``NBMLOPS_TEST_PG_URL``, one schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import require


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
