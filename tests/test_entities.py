"""Entities: derived fields computed from stored values (fixed times, no clock involved)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nbmlops.entities import RunRecord, RunStatus

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_duration_of_a_running_run_is_unknown() -> None:
    assert RunRecord("a" * 32, "e", "r", RunStatus.RUNNING, START).duration is None


def test_duration_is_end_minus_start_in_seconds() -> None:
    rec = RunRecord("a" * 32, "e", "r", RunStatus.FINISHED, START,
                    end_time=START + timedelta(seconds=2, milliseconds=500))
    assert rec.duration == 2.5
