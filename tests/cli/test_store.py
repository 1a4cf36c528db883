"""``nbmlops store info|upgrade`` through the real console script."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd

import nbmlops
from nbmlops.store import reset
from nbmlops.store.schema import SCHEMA_VERSION
from tests.cli.test_runs import cli


def _make_version_1(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX ix_runs_start")
        conn.execute("DROP INDEX ix_runs_experiment_start_id")
        conn.execute("CREATE INDEX ix_runs_experiment_start ON runs (experiment_id, start_time)")
        for table in ("params", "latest_metrics"):  # version 2's (key, value) indexes
            conn.execute(f"DROP INDEX ix_{table}_key_value_run")
            conn.execute(f"CREATE INDEX ix_{table}_key_value ON {table} (key, value)")
        conn.execute("UPDATE nbmlops_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


def test_info_counts(nbmlops_home: Path) -> None:
    nbmlops.log_runs(pd.DataFrame({"metrics.m": [1.0, 2.0]}), "e")
    out = cli("store", "info", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["runs"], data["experiments"], data["schema_version"]) == (2, 1, SCHEMA_VERSION)
    table = cli("store", "info")
    assert table.returncode == 0 and "runs" in table.stdout and " MB" in table.stdout


def test_upgrade_backs_up_a_version_1_store_and_keeps_everything(nbmlops_home: Path) -> None:
    nbmlops.log_runs(pd.DataFrame({"metrics.m": [1.0, 2.0, 3.0]}), "e")
    reset()
    db = nbmlops_home / "nbmlops.db"
    _make_version_1(db)
    out = cli("store", "upgrade")
    assert out.returncode == 0, out.stderr
    backup = nbmlops_home / "nbmlops.db.v1.backup"
    assert f"upgraded schema version 1 -> {SCHEMA_VERSION}" in out.stdout
    assert str(backup) in out.stdout
    with sqlite3.connect(backup) as conn:  # the backup is the old store, whole
        assert conn.execute("SELECT value FROM nbmlops_meta").fetchone() == ("1",)
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (3,)
    conn.close()
    with sqlite3.connect(db) as conn:  # both migrations' indexes are in place
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"ix_runs_start", "ix_params_key_value_run", "ix_latest_metrics_key_value_run"} <= names
    assert not names & {"ix_runs_experiment_start", "ix_params_key_value"}
    again = cli("store", "upgrade")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert len(nbmlops.runs()) == 3


def test_upgrade_refuses_a_newer_store_in_one_line(nbmlops_home: Path) -> None:
    nbmlops.log_runs(pd.DataFrame({"metrics.m": [1.0]}), "e")
    reset()
    db = nbmlops_home / "nbmlops.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE nbmlops_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = db.read_bytes()
    out = cli("store", "upgrade")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "version 99" in lines[0] and "Traceback" not in out.stderr
    assert db.read_bytes() == before
