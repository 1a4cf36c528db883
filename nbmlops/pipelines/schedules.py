"""Pipeline schedules: add, list, pause, resume, remove; execute one; the on-alert hook.

The schedules live in the ``pipeline_schedules`` table; ``nbmlops scheduler``
(:mod:`nbmlops.pipelines.scheduler`) turns them into APScheduler jobs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    from nbmlops.pipelines.results import PipelineRun

MISFIRE_POLICIES = ("run-once", "skip")
SCHEDULE_TAG = "nbmlops.schedule"
_FIELDS6 = ("second", "minute", "hour", "day", "month", "day_of_week")


def parse_cron(expression: str) -> Any:
    """Return an APScheduler CronTrigger (UTC) for a 5-field or 6-field cron expression.

    Five fields are standard cron (``minute hour day month weekday``); six fields put
    seconds first (``*/10 * * * * *`` fires every ten seconds).
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split() if isinstance(expression, str) else []
    try:
        if len(fields) == 5:
            return CronTrigger.from_crontab(expression, timezone="UTC")
        if len(fields) == 6:
            return CronTrigger(**dict(zip(_FIELDS6, fields, strict=True)), timezone="UTC")
    except ValueError as exc:
        raise ValidationError(f"invalid cron expression {expression!r}: {exc}") from exc
    raise ValidationError(f"invalid cron expression {expression!r}: expected 5 fields "
                          "(minute hour day month weekday) or 6 with seconds first, "
                          "e.g. '0 3 * * *'")


def add_schedule(
    spec_path: str | Path,
    *,
    cron: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    misfire: str = "run-once",
    on_alert: str | None = None,
) -> dict[str, Any]:
    """Validate the pipeline, cron and params, store the schedule and return it."""
    from nbmlops.names import validate_name
    from nbmlops.pipelines.notebooks import check_param_overrides, validate_notebooks
    from nbmlops.pipelines.spec import load_spec
    from nbmlops.store.pipelines import pipeline_store

    spec = load_spec(spec_path)
    validate_notebooks(spec)
    check_param_overrides(spec, dict(params or {}))
    if cron is None and on_alert is None:
        raise ValidationError("give --cron, --on-alert MODEL, or both")
    if cron is not None:
        parse_cron(cron)
    if misfire not in MISFIRE_POLICIES:
        raise ValidationError(f"misfire policy {misfire!r} must be one of "
                              f"{', '.join(MISFIRE_POLICIES)}")
    if on_alert is not None:
        validate_name(on_alert, "model")
    row: dict[str, Any] = dict(
        name=validate_name(name or spec.name, "schedule"), spec_path=str(spec.path),
        cron=cron, params=dict(params or {}), misfire=misfire, on_alert=on_alert, paused=False)
    store = pipeline_store()
    store.add_schedule(row)
    return store.get_schedule(row["name"])


def list_schedules() -> list[dict[str, Any]]:
    """Return every schedule (name, spec_path, cron, params, misfire, paused, last run...)."""
    from nbmlops.store.pipelines import pipeline_store

    return pipeline_store().list_schedules()


def remove_schedule(name: str) -> None:
    """Delete a schedule; a running scheduler drops its job within seconds."""
    from nbmlops.store.pipelines import pipeline_store

    pipeline_store().remove_schedule(name)


def pause_schedule(name: str) -> None:
    """Stop a schedule from firing until it is resumed."""
    from nbmlops.store.pipelines import pipeline_store

    pipeline_store().update_schedule(name, paused=True)


def resume_schedule(name: str) -> None:
    """Let a paused schedule fire again (from its next due time; missed ones are skipped)."""
    from nbmlops.store.pipelines import pipeline_store

    pipeline_store().update_schedule(name, paused=False)


def execute_schedule(name: str, *, progress: Any = None) -> PipelineRun:
    """Run a schedule's pipeline now, record the outcome on the schedule, return the run."""
    from nbmlops.pipelines.runner import run_pipeline
    from nbmlops.store.pipelines import pipeline_store

    store = pipeline_store()
    sched = store.get_schedule(name)
    started = time.time()
    try:
        result = run_pipeline(sched["spec_path"], params=sched["params"], progress=progress,
                              tags={SCHEDULE_TAG: name})
    except Exception:
        store.update_schedule(name, last_status="error", last_run_at=started)
        raise
    store.update_schedule(name, last_run_id=result.run_id, last_run_at=started,
                          last_status="ok" if result.ok else "failed")
    return result


def run_on_alert(model: str, *, progress: Any = None) -> list[PipelineRun]:
    """Run every active schedule registered with ``--on-alert model``; return their runs.

    This is the hook the monitoring alerts call (retraining); nothing calls it until
    monitoring lands.
    """
    return [execute_schedule(s["name"], progress=progress) for s in list_schedules()
            if s["on_alert"] == model and not s["paused"]]
