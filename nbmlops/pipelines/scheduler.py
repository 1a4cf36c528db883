"""``nbmlops scheduler``: APScheduler 3 running due pipelines, its job store in the nbmlops DB.

Each schedule is one APScheduler job (id = schedule name) kept in the
``nbmlops_scheduler_jobs`` table of the metadata database (SQLAlchemyJobStore on the
store's own engine; the table is part of ``store/schema.py``). A job runs the pipeline
in a child process (``python -m nbmlops.pipelines._job NAME``) so a crashing notebook
cannot take the scheduler down,
and ``max_instances=1`` means a schedule never overlaps itself.

Misfire policy, applied when the scheduler starts and finds due times that passed
while it was down (or, for a new schedule, since it was added):

- ``run-once`` (default): report them and run the pipeline once, now;
- ``skip``: report them and wait for the next due time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

Echo = Callable[[str], None]


def missed_fire_times(trigger: Any, since: datetime, now: datetime,
                      limit: int = 10000) -> list[datetime]:
    """Return the trigger's fire times in [since, now] (at most ``limit``)."""
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, since)
    while t is not None and t <= now and len(out) < limit:
        out.append(t)
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return out


def run_job(name: str) -> int:
    """Run a schedule's pipeline in a child process; return its exit code (the job body)."""
    cmd = [sys.executable, "-m", "nbmlops.pipelines._job", name]
    return subprocess.run(cmd, check=False).returncode


class SchedulerService:
    """Keeps APScheduler jobs in step with the schedules table and runs them."""

    def __init__(self, *, echo: Echo = print, max_workers: int = 4,
                 sync_interval: float = 2.0, alert_interval: float | None = 60.0) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        from nbmlops.store.pipelines import pipeline_store, scheduler_job_store

        self.store = pipeline_store()
        self.echo, self.sync_interval = echo, sync_interval
        self.alert_interval = alert_interval
        self.scheduler = BackgroundScheduler(
            jobstores={"default": scheduler_job_store(self.store),
                       "internal": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            timezone=timezone.utc,
        )
        self._lock = threading.Lock()

    def start(self) -> None:
        """Report missed runs, apply the misfire policy, then start firing jobs."""
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES

        self.scheduler.start(paused=True)
        self.scheduler.add_listener(self._on_busy, EVENT_JOB_MAX_INSTANCES)
        self.sync(startup=True)
        self.scheduler.add_job(self.sync, "interval", seconds=self.sync_interval,
                               jobstore="internal", id="nbmlops-sync", executor="default")
        if self.alert_interval:
            self.scheduler.add_job(self.check_alerts, "interval", seconds=self.alert_interval,
                                   jobstore="internal", id="nbmlops-alerts", executor="default")
        self.scheduler.resume()
        on_alerts = sum(1 for r in self.store.list_schedules() if r.get("on_alert"))
        alerts = (f", {on_alerts} on alerts (rules checked every {self.alert_interval:g} s)"
                  if on_alerts and self.alert_interval else "")
        self.echo(f"scheduler running {len(self._job_ids())} cron schedule(s){alerts}; "
                  "Ctrl-C to stop")

    def stop(self) -> None:
        """Stop firing and wait for running pipelines to finish."""
        self.scheduler.shutdown(wait=True)

    def check_alerts(self) -> None:
        """Evaluate every monitoring alert rule (fired rules start their pipelines)."""
        from nbmlops.monitoring.alerts import check_alerts

        try:
            events = check_alerts()
        except Exception as exc:  # the daemon keeps running; the next interval retries
            self.echo(f"alert check failed: {type(exc).__name__}: {exc}")
            return
        for e in events:
            runs = ", ".join(f"{r['pipeline']} {r['status']}" for r in e["pipeline_runs"])
            self.echo(f"alert {e['model']}/{e['version']}: {e['rule']} (value {e['value']:g})"
                      f"{'; started ' + runs if runs else ''}")

    def _on_busy(self, event: Any) -> None:
        self.echo(f"schedule {event.job_id}: still running, so this due time is skipped "
                  "(one execution per schedule at a time)")

    def _job_ids(self) -> set[str]:
        return {j.id for j in self.scheduler.get_jobs(jobstore="default")}

    def sync(self, startup: bool = False) -> None:
        """Add, update, pause, resume and remove jobs to match the schedules table."""
        with self._lock:
            schedules = {s["name"]: s for s in self.store.list_schedules() if s["cron"]}
            for job_id in self._job_ids() - set(schedules):
                self.scheduler.remove_job(job_id, jobstore="default")
                self.echo(f"schedule {job_id}: removed")
            for sched in schedules.values():
                self._sync_one(sched, startup)

    def _sync_one(self, sched: dict[str, Any], startup: bool) -> None:
        from nbmlops.pipelines.schedules import parse_cron

        name, now = sched["name"], datetime.now(timezone.utc)
        job = self.scheduler.get_job(name, jobstore="default")
        label = f"{sched['cron']}|{sched['spec_path']}"
        if job is not None and job.name == label:
            if sched["paused"] and job.next_run_time is not None:
                job.pause()
                self.echo(f"schedule {name}: paused")
            elif not sched["paused"] and job.next_run_time is None:
                job.resume()
                self.echo(f"schedule {name}: resumed")
            if not startup or sched["paused"]:
                return
        trigger = parse_cron(sched["cron"])
        next_run = self._first_run(sched, trigger, job, now) if startup else None
        if sched["paused"]:
            next_run = None
        self.scheduler.add_job(
            "nbmlops.pipelines.scheduler:run_job", trigger=trigger, args=[name], id=name,
            name=label, jobstore="default", replace_existing=True,
            **({"next_run_time": next_run} if startup or sched["paused"] else {}),
        )

    def _first_run(self, sched: dict[str, Any], trigger: Any, job: Any,
                   now: datetime) -> datetime | None:
        """Return when a schedule should next fire at startup, reporting missed runs."""
        if job is not None and job.next_run_time is not None:
            since = job.next_run_time
        elif job is None:
            since = datetime.fromtimestamp(sched["created_at"], timezone.utc) + \
                timedelta(microseconds=1)
        else:
            since = now
        missed = missed_fire_times(trigger, since, now)
        upcoming: datetime | None = trigger.get_next_fire_time(None, now)
        if not missed:
            return upcoming
        when = f"{missed[0]:%Y-%m-%d %H:%M:%S}" + (
            f" .. {missed[-1]:%Y-%m-%d %H:%M:%S}" if len(missed) > 1 else "")
        action = ("running it once now" if sched["misfire"] == "run-once"
                  else f"skipping them; next run {upcoming:%Y-%m-%d %H:%M:%S} UTC")
        self.echo(f"schedule {sched['name']}: missed {len(missed)} run(s) while the scheduler "
                  f"was down ({when} UTC); misfire={sched['misfire']}: {action}")
        return now if sched["misfire"] == "run-once" else upcoming


def serve(*, run_for: float | None = None, echo: Echo = print, max_workers: int = 4,
          sync_interval: float = 2.0, alert_interval: float | None = 60.0) -> None:
    """Run the scheduler until interrupted, or for ``run_for`` seconds.

    Every ``alert_interval`` seconds (None or 0: never) it also evaluates the monitoring
    alert rules, so alerts fire and retraining starts without a notebook open.
    """
    service = SchedulerService(echo=echo, max_workers=max_workers, sync_interval=sync_interval,
                               alert_interval=alert_interval)
    service.start()
    try:
        deadline = None if run_for is None else time.monotonic() + run_for
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        echo("stopping: waiting for running pipelines")
    finally:
        service.stop()
