"""Schema migrations at the size a team reaches: a 100,000-run version-1 store upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import inspect

from nbmlops.store import migrations
from nbmlops.store import schema as s
from nbmlops.store.sql import SqlStore

N = 100_000


def _version_1_store(db: Path) -> None:
    """Write a store as version 1 left it, filled with bulk SQL (not run by run)."""
    SqlStore(f"sqlite:///{db}").close()
    conn = sqlite3.connect(db)
    with conn:
        for name in ("ix_runs_start", "ix_runs_experiment_start_id",
                     "ix_params_key_value_run", "ix_latest_metrics_key_value_run"):
            conn.execute(f"DROP INDEX {name}")
        conn.execute("CREATE INDEX ix_runs_experiment_start ON runs (experiment_id, start_time)")
        conn.execute("CREATE INDEX ix_params_key_value ON params (key, value)")
        conn.execute("CREATE INDEX ix_latest_metrics_key_value ON latest_metrics (key, value)")
        conn.execute("UPDATE nbmlops_meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("INSERT INTO experiments (id, name, created_at) VALUES (1, 'big', 0)")
        conn.executemany(
            "INSERT INTO runs (id, experiment_id, name, status, start_time, end_time) "
            "VALUES (?, 1, ?, 'FINISHED', ?, ?)",
            ((f"{i:032x}", f"r{i}", float(i), float(i) + 1) for i in range(N)))
        conn.executemany(
            "INSERT INTO params (run_id, key, value, value_num, kind) VALUES (?, 'p', ?, NULL, "
            "'str')", ((f"{i:032x}", "abcdefghij"[i % 10]) for i in range(N)))
        for table in ("metrics", "latest_metrics"):
            conn.executemany(
                f"INSERT INTO {table} (run_id, key, value, is_nan, step, timestamp) "
                "VALUES (?, 'm', ?, 0, 0, ?)",
                ((f"{i:032x}", (i % 1000) / 1000, float(i)) for i in range(N)))
    conn.close()


def test_a_100k_run_version_1_store_upgrades_losing_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nbmlops.db"
    _version_1_store(db)
    store = SqlStore(f"sqlite:///{db}")  # migrates 1 -> current on open
    try:
        assert store.opened_at_version == 1
        with store.engine.connect() as conn:
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION
            names = {i["name"] for t in ("runs", "params", "latest_metrics")
                     for i in inspect(conn).get_indexes(t)}
            counts = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()
                      for t in ("runs", "params", "metrics", "latest_metrics")}
        assert {"ix_runs_start", "ix_params_key_value_run",
                "ix_latest_metrics_key_value_run"} <= names
        assert not {"ix_runs_experiment_start", "ix_params_key_value"} & names
        assert counts == {"runs": N, "params": N, "metrics": N, "latest_metrics": N}
        # the upgraded indexes answer filters with the same rows as before
        assert store.count_runs("big", "metrics.m >= 0.9 and params.p = 'a'") == N // 100
        newest = store.search_run_summaries("big", "params.p = 'j'", max_results=1)
        assert newest[0][0] == f"{N - 1:032x}"
        assert migrations.backup_path(db, 1).exists()  # the copy made before upgrading
    finally:
        store.close()
