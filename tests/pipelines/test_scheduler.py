"""Schedules: CRUD and bad input in-process; the real `nbmlops scheduler` process firing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbmlops
from nbmlops.cli import cli
from nbmlops.errors import ValidationError
from nbmlops.pipelines import schedules
from nbmlops.pipelines.scheduler import missed_fire_times
from nbmlops.store.pipelines import ScheduleNotFound, pipeline_store


@pytest.fixture
def one_step(misc: Path) -> Path:
    path = misc / "tick.yaml"
    path.write_text("name: tick\nsteps:\n  s: {notebook: sleepy.ipynb, parameters: "
                    "{seconds: 0.5}}\n")
    return path


def test_schedule_cli_lifecycle(one_step: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["schedule", "add", str(one_step), "--cron", "0 3 * * *",
                              "-p", "x=1"])
    assert res.exit_code == 1 and "unknown pipeline param 'x'" in str(res.exception)
    res = runner.invoke(cli, ["schedule", "add", str(one_step), "--cron", "0 3 * * *",
                              "--on-alert", "churn"])
    assert res.exit_code == 0, res.output
    assert "scheduled tick:" in res.output
    assert "on cron '0 3 * * *' (UTC) and on alerts of model churn" in res.output
    res = runner.invoke(cli, ["schedule", "add", str(one_step), "--on-alert", "churn",
                              "--name", "only-alerts"])
    assert res.exit_code == 0 and ": " in res.output and "no cron" not in res.output
    assert " on alerts of model churn; it fires" in res.output
    assert runner.invoke(cli, ["schedule", "remove", "only-alerts"]).exit_code == 0
    assert runner.invoke(cli, ["schedule", "pause", "tick"]).exit_code == 0
    listed = runner.invoke(cli, ["schedule", "list"]).output
    assert "tick  paused  cron=0 3 * * *  misfire=run-once on-alert=churn" in listed
    assert runner.invoke(cli, ["schedule", "resume", "tick"]).exit_code == 0
    assert schedules.list_schedules()[0]["paused"] is False
    assert runner.invoke(cli, ["schedule", "remove", "tick"]).exit_code == 0
    res = runner.invoke(cli, ["schedule", "remove", "tick"])
    assert isinstance(res.exception, ScheduleNotFound)


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "every day", "* * * * * * *"])
def test_invalid_cron(one_step: Path, cron: str) -> None:
    with pytest.raises(ValidationError, match="invalid cron expression"):
        schedules.add_schedule(one_step, cron=cron)
    assert schedules.list_schedules() == []


def test_other_bad_schedule_input(one_step: Path) -> None:
    with pytest.raises(ValidationError, match="give --cron, --on-alert MODEL, or both"):
        schedules.add_schedule(one_step)
    with pytest.raises(ValidationError, match="misfire policy 'later'"):
        schedules.add_schedule(one_step, cron="* * * * *", misfire="later")
    schedules.add_schedule(one_step, cron="* * * * *")
    with pytest.raises(nbmlops.errors.ConflictError, match="schedule 'tick' already exists"):
        schedules.add_schedule(one_step, cron="* * * * *")


def test_missed_fire_times() -> None:
    trigger = schedules.parse_cron("0 3 * * *")
    since = datetime(2024, 1, 1, tzinfo=timezone.utc)
    now = datetime(2024, 1, 4, 12, tzinfo=timezone.utc)
    assert [t.day for t in missed_fire_times(trigger, since, now)] == [1, 2, 3, 4]


def test_on_alert_hook_runs_registered_pipelines(one_step: Path) -> None:
    schedules.add_schedule(one_step, on_alert="churn", name="retrain")
    assert schedules.run_on_alert("other") == []
    [result] = schedules.run_on_alert("churn", progress=False)
    assert result.ok and nbmlops.get_run(result.run_id).tags["nbmlops.schedule"] == "retrain"
    assert schedules.list_schedules()[0]["last_run_id"] == result.run_id


def test_scheduler_process_fires_and_reports_missed_runs(one_step: Path,
                                                         nbmlops_home: Path) -> None:
    store = pipeline_store()
    schedules.add_schedule(one_step, cron="*/2 * * * * *", name="every2s")
    two_years_ago = time.time() - 2 * 366 * 86400
    for name, misfire in (("catchup", "run-once"), ("skipper", "skip")):
        schedules.add_schedule(one_step, cron="0 0 1 1 *", name=name, misfire=misfire)
        store.update_schedule(name, created_at=two_years_ago)  # as if added long ago
    env = dict(os.environ, NBMLOPS_HOME=str(nbmlops_home))
    proc = subprocess.run([sys.executable, "-m", "nbmlops.cli", "scheduler", "--run-for", "9"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "schedule catchup: missed 2 run(s)" in proc.stdout
    assert "misfire=run-once: running it once now" in proc.stdout
    assert "schedule skipper: missed 2 run(s)" in proc.stdout
    assert "misfire=skip: skipping them; next run" in proc.stdout

    def runs_of(name: str) -> list:
        found = nbmlops.runs(experiment="tick", filter=f"tags.nbmlops.schedule = '{name}'")
        return [nbmlops.get_run(r).info for r in found.run_id]

    assert len(runs_of("catchup")) == 1 and runs_of("skipper") == []
    ticks = sorted(runs_of("every2s"), key=lambda r: r.start_time)
    assert ticks and all(r.status.value == "FINISHED" for r in ticks)
    for a, b in zip(ticks, ticks[1:], strict=False):  # never two executions at once
        assert a.end_time <= b.start_time
    assert {s["name"]: s["last_status"] for s in schedules.list_schedules()}["every2s"] == "ok"


def test_job_store_is_part_of_the_schema_on_the_stores_engine() -> None:
    from sqlalchemy import inspect

    from nbmlops.store.pipelines import scheduler_job_store

    store = pipeline_store()
    # created with every other table when the store opened, before any scheduler ran
    assert "nbmlops_scheduler_jobs" in inspect(store.sql.engine).get_table_names()
    jobs = scheduler_job_store(store)
    assert jobs.engine is store.sql.engine  # the store's SQLite settings, one pool
    jobs.start(None, "default")  # APScheduler's own create is then a no-op
    assert jobs.get_all_jobs() == []
