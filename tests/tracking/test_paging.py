"""One paging mechanism: pages read in SQL, tokens bound to their query, counts in SQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

import nbmlops
from nbmlops.errors import FilterError, ValidationError
from nbmlops.store import open_store


def _make_runs(n: int, experiment: str = "default") -> list[str]:
    ids = []
    for i in range(n):
        params = {"i": i, "parity": "even" if i % 2 == 0 else "odd"}
        with nbmlops.start_run(f"r{i}", experiment=experiment, params=params,
                               capture=False) as run:
            nbmlops.log_metric("acc", i / 100)
        ids.append(run.id)
    return ids


def test_pages_cover_every_run_once_in_order() -> None:
    ids = _make_runs(23)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = nbmlops.runs_page(page_size=10, page_token=token, order_by="metrics.acc DESC")
        assert page.total == 23 and len(page.frame) <= 10
        seen.extend(page.run_ids)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))  # acc grows with i
    assert list(page.frame["params.i"]) == [2, 1, 0]


def test_filter_experiment_and_total_are_counted_in_sql() -> None:
    _make_runs(6, "a")
    _make_runs(4, "b")
    page = nbmlops.runs_page(experiment="a", filter="params.parity = 'even'", page_size=2)
    assert page.total == 3 and len(page.frame) == 2 and page.next_page_token
    assert set(page.frame["experiment"]) == {"a"}
    assert nbmlops.experiments() == ["a", "b"]
    assert repr(page) == "<RunsPage runs 1-2 of 3>"


def test_one_page_is_read_not_every_run() -> None:
    _make_runs(30)
    store, _ = open_store()
    statements: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", spy)
    try:
        page = nbmlops.runs_page(page_size=5)
    finally:
        event.remove(store.engine, "before_cursor_execute", spy)
    assert len(page.frame) == 5 and page.total == 30
    search = [q for q in statements if "LIMIT" in q.upper()]
    assert search, statements
    # params/metrics are read for the five runs of the page only
    value_reads = [q for q in statements if "FROM params WHERE run_id IN" in q]
    assert value_reads and all(q.count("?") == 5 for q in value_reads)


def test_to_dict_is_json_ready() -> None:
    import json

    _make_runs(2)
    data = nbmlops.runs_page(page_size=1).to_dict()
    text = json.dumps(data)
    assert data["next_page_token"] and data["total"] == 2
    run = data["runs"][0]
    assert run["params"] == {"i": 1, "parity": "odd"} and run["metrics"] == {"acc": 0.01}
    assert run["status"] == "FINISHED" and run["start_time"].endswith("+00:00")
    assert "NaN" not in text


def test_runs_max_results_carries_the_next_token() -> None:
    _make_runs(5)
    first = nbmlops.runs(max_results=2)
    assert len(first) == 2 and first.attrs["next_page_token"]
    second = nbmlops.runs(max_results=2, page_token=first.attrs["next_page_token"])
    assert not set(first["run_id"]) & set(second["run_id"])
    everything = nbmlops.runs()
    assert len(everything) == 5


@pytest.mark.parametrize("size", [0, -1, 1001, 2.5, "10", True, None])
def test_bad_page_size_is_refused(size: Any) -> None:
    with pytest.raises(ValidationError, match="page_size must be an integer from 1 to 1000"):
        nbmlops.runs_page(page_size=size)


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJvIjotMSwicSI6IngifQ"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="page_token"):
        nbmlops.runs_page(page_token=token)


def test_token_of_another_query_is_refused() -> None:
    _make_runs(3)
    token = nbmlops.runs_page(page_size=1).next_page_token
    assert token
    with pytest.raises(ValidationError, match="another query"):
        nbmlops.runs_page(page_size=1, page_token=token, filter="params.i > 0")


def test_bad_filter_is_the_store_error() -> None:
    with pytest.raises(FilterError):
        nbmlops.runs_page(filter="params.i >")


def test_store_info_counts_without_reading_runs() -> None:
    _make_runs(3, "x")
    info = nbmlops.store_info()
    assert (info.runs, info.experiments, info.models, info.deployments) == (3, 1, 0, 0)
    assert info.schema_version and info.size_bytes and info.size_bytes > 0
    assert info.to_dict()["runs"] == 3


def test_store_info_redacts_passwords() -> None:
    from nbmlops.config import redact_urls as redact_url

    assert redact_url("postgresql+psycopg://u:secret@h:5432/db") == \
        "postgresql+psycopg://u:***@h:5432/db"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_later_pages_reuse_the_first_count() -> None:
    _make_runs(5)
    first = nbmlops.runs_page(page_size=2)
    store, _ = open_store()
    calls: list[int] = []
    original = store.count_runs
    store.count_runs = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[method-assign]
    try:
        second = nbmlops.runs_page(page_size=2, page_token=first.next_page_token)
    finally:
        del store.count_runs
    assert calls == [] and second.total == 5 and second.offset == 2


def test_a_version_1_store_gains_the_run_order_indexes(tmp_path: Any) -> None:
    from sqlalchemy import create_engine, inspect

    from nbmlops.store import migrations
    from nbmlops.store import schema as s
    from nbmlops.store.sql import SqlStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = SqlStore(url)
    store.bulk_create_runs("e", [(f"r{i}", float(i), float(i), {}, {"m": 1.0})
                                 for i in range(50)])
    store.close()
    engine = create_engine(url)
    with engine.begin() as conn:  # make it the store version 1 wrote
        conn.exec_driver_sql("DROP INDEX ix_runs_start")
        conn.exec_driver_sql("DROP INDEX ix_runs_experiment_start_id")
        conn.exec_driver_sql("CREATE INDEX ix_runs_experiment_start ON runs "
                             "(experiment_id, start_time)")
        conn.exec_driver_sql("UPDATE nbmlops_meta SET value = '1' WHERE key = 'schema_version'")
    engine.dispose()
    store = SqlStore(url)
    try:
        with store.engine.connect() as conn:
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION
            names = {i["name"] for i in inspect(conn).get_indexes("runs")}
        assert {"ix_runs_start", "ix_runs_experiment_start_id"} <= names
        assert "ix_runs_experiment_start" not in names
        assert store.count_runs() == 50
    finally:
        store.close()


@pytest.mark.parametrize("expr", [
    "params.parity = 'even'",
    "metrics.acc > 0.05 and params.parity = 'odd'",
    "metrics.acc < 0.03 or params.i >= 8",
    "(params.parity = 'odd' or metrics.acc = 0) and params.i != 5",
    "attributes.name like 'r1%' and metrics.acc > 0",
])
def test_the_count_matches_the_search(expr: str) -> None:
    _make_runs(12)
    # the count and the search share one compiled filter; pages and counts differ in shape
    assert nbmlops.runs_page(filter=expr, page_size=1).total == len(nbmlops.runs(filter=expr))
