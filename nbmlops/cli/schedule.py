"""``nbmlops schedule`` (add, list, remove, pause, resume) and ``nbmlops scheduler``."""

from __future__ import annotations

import json

import click

from nbmlops._format import when


@click.group("schedule")
def schedule() -> None:
    """Run pipelines on a cron schedule (see `nbmlops scheduler`)."""


@schedule.command("add")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--cron", default=None, metavar="EXPR",
              help="'minute hour day month weekday' (UTC), or 6 fields with seconds first.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Pipeline param for every scheduled run.")
@click.option("--name", default=None, help="Schedule name (default: the pipeline name).")
@click.option("--misfire", type=click.Choice(["run-once", "skip"]), default="run-once",
              show_default=True, help="What to do with runs missed while the scheduler was down.")
@click.option("--on-alert", "on_alert", default=None, metavar="MODEL",
              help="Also run when MODEL's monitoring raises an alert (hook for monitoring).")
def add(spec: str, cron: str | None, params: tuple[str, ...], name: str | None, misfire: str,
        on_alert: str | None) -> None:
    """Schedule the pipeline in SPEC."""
    from nbmlops.pipelines.params import parse_params
    from nbmlops.pipelines.schedules import add_schedule

    row = add_schedule(spec, cron=cron, params=parse_params(params), name=name,
                       misfire=misfire, on_alert=on_alert)
    fires = [f"on cron '{row['cron']}' (UTC)" if row["cron"] else "",
             f"on alerts of model {row['on_alert']}" if row["on_alert"] else ""]
    click.echo(f"scheduled {row['name']}: {row['spec_path']} "
               f"{' and '.join(f for f in fires if f)}; it fires while `nbmlops scheduler` runs")


@schedule.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def list_(fmt: str) -> None:
    """List schedules with their last run."""
    from nbmlops.pipelines.schedules import list_schedules

    rows = list_schedules()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no schedules; add one with `nbmlops schedule add pipeline.yaml --cron ...`")
        return
    for r in rows:
        state = "paused" if r["paused"] else "active"
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        alert = f" on-alert={r['on_alert']}" if r["on_alert"] else ""
        click.echo(f"{r['name']}  {state}  cron={r['cron'] or '-'}  misfire={r['misfire']}"
                   f"{alert}  {r['spec_path']} {params}".rstrip())
        click.echo(f"    last run: {when(r['last_run_at'])} {r['last_status'] or ''} "
                   f"{r['last_run_id'] or ''}".rstrip())


@schedule.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Delete a schedule."""
    from nbmlops.pipelines.schedules import remove_schedule

    remove_schedule(name)
    click.echo(f"removed schedule {name}")


@schedule.command("pause")
@click.argument("name")
def pause(name: str) -> None:
    """Stop a schedule from firing."""
    from nbmlops.pipelines.schedules import pause_schedule

    pause_schedule(name)
    click.echo(f"paused schedule {name}")


@schedule.command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """Let a paused schedule fire again."""
    from nbmlops.pipelines.schedules import resume_schedule

    resume_schedule(name)
    click.echo(f"resumed schedule {name}")


@click.command("scheduler")
@click.option("--run-for", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Stop after this many seconds (default: run until Ctrl-C).")
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True,
              help="How many schedules may run at the same time.")
@click.option("--alert-interval", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="Evaluate monitoring alert rules this often (0: never).")
def scheduler(run_for: float | None, workers: int, alert_interval: float) -> None:
    """Run due pipelines and alert checks (a long-running process; jobs kept in the DB)."""
    from nbmlops.pipelines.scheduler import serve

    serve(run_for=run_for, max_workers=workers, echo=lambda m: click.echo(m),
          alert_interval=alert_interval or None)
