"""``nbmlops monitor``: a served model's report, its alert rules, and checking them now.

``nbmlops monitor REF`` shows the report (the ``show`` sub-command is implied);
``nbmlops monitor rules add|list|remove`` manage alert rules; ``nbmlops monitor check
[REF]`` evaluates them now and prints the alerts that fired.
"""

from __future__ import annotations

import json
from typing import Any

import click

from nbmlops._format import when


class DefaultGroup(click.Group):
    """A group that runs ``show`` when the first argument is not a sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Insert ``show`` when the first argument is not a sub-command."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("monitor", cls=DefaultGroup)
def monitor() -> None:
    """Drift, latency, accuracy and alerts of served models (`nbmlops monitor REF`)."""


def _report_json(report: Any) -> dict[str, Any]:
    drift = [] if report.drift is None else report.drift.to_dict(orient="records")
    return {
        "model": report.model, "version": report.version, "requests": report.requests,
        "rows": report.rows, "latency_ms": report.latency_ms, "accuracy": report.accuracy,
        "labelled_rows": report.labelled_rows, "error_rate": report.error_rate,
        "reference": report.reference, "drift": drift, "drift_share": report.drift_share,
        "drifted_columns": report.drifted_columns, "notes": report.notes,
        "thresholds": None if report.drift_report is None else report.drift_report.thresholds,
    }


@monitor.command("show")
@click.argument("ref")
@click.option("--window", default=None, metavar="DURATION",
              help="Only the last DURATION of traffic: seconds or 90s/30m/1h/2d (default: all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def show(ref: str, window: str | None, fmt: str) -> None:
    """Show REF's (NAME@ALIAS or NAME/VERSION) traffic, latency, drift and live accuracy."""
    from nbmlops.monitoring.report import monitor as build

    report = build(ref, window=window)
    if fmt == "json":
        click.echo(json.dumps(_report_json(report), indent=2, default=str))
        return
    click.echo(f"{report.model}/{report.version}: {report.requests} requests, "
               f"{report.rows} rows")
    if report.latency_ms:
        click.echo("latency: " + ", ".join(f"{k} {v:.2f} ms" for k, v in report.latency_ms.items()))
    acc = (f"{report.accuracy:.3f} on {report.labelled_rows} labelled rows"
           if report.accuracy is not None else "no feedback yet")
    click.echo(f"live accuracy: {acc}")
    if report.drift is not None:
        share = report.drift_share
        click.echo(f"drift vs {report.reference}: {', '.join(report.drifted_columns) or 'none'}"
                   f" (share {'n/a' if share is None else f'{share:.0%}'})")
        cols = ["column", "test", "statistic", "p_adjusted", "effect", "verdict", "note"]
        click.echo(report.drift[cols].to_string(index=False))
    for note in report.notes:
        click.echo(f"note: {note}")


@monitor.group("rules")
def rules() -> None:
    """Alert rules: add, list, remove."""


@rules.command("add")
@click.argument("ref")
@click.argument("metric")
@click.argument("op", type=click.Choice([">", ">=", "<", "<="]))
@click.argument("threshold", type=float)
@click.option("--min-rows", type=int, default=100, show_default=True,
              help="Rows (labelled rows for accuracy) needed before the rule is evaluated.")
@click.option("--window", default="1h", show_default=True, help="Traffic window evaluated.")
@click.option("--on-alert", "on_alert", default=None, metavar="PIPELINE_YAML",
              help="Pipeline to run when the rule fires (param `model` = REF if declared).")
def rules_add(ref: str, metric: str, op: str, threshold: float, min_rows: int, window: str,
              on_alert: str | None) -> None:
    """Alert when METRIC of REF is OP THRESHOLD (e.g. `churn@production drift_share '>' 0.3`).

    METRIC: drift_share, accuracy, latency_p95_ms, error_rate or drift:<column>.
    """
    from nbmlops.monitoring.alerts import add_alert_rule

    rule = add_alert_rule(ref, metric, op, threshold, min_rows=min_rows, window=window,
                          on_alert=on_alert)
    click.echo(f"added rule {rule['id']}: {ref} {metric} {op} {threshold:g}")


@rules.command("list")
@click.argument("ref", required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def rules_list(ref: str | None, fmt: str) -> None:
    """List alert rules (of REF's model)."""
    from nbmlops.monitoring.alerts import alert_rules

    frame = alert_rules(ref)
    if fmt == "json":
        click.echo(frame.to_json(orient="records", indent=2))
        return
    if frame.empty:
        click.echo("no alert rules; add one with `nbmlops monitor rules add REF METRIC OP X`")
        return
    for r in frame.to_dict(orient="records"):
        state = "FIRING" if r["firing"] else "ok"
        value = r["last_value"]
        last = "-" if value is None or value != value else f"{value:g}"
        pipe = f" on-alert={r['on_alert']}" if r["on_alert"] else ""
        click.echo(f"{r['id']}  {r['ref']}  {r['metric']} {r['op']} {r['threshold']:g}  "
                   f"{state}  last={last} ({when(r['last_checked_at'], 'never', zone=True)})  "
                   f"window={r['window_s']:g}s{pipe}")


@rules.command("remove")
@click.argument("rule_id")
def rules_remove(rule_id: str) -> None:
    """Delete an alert rule (its past alerts stay)."""
    from nbmlops.monitoring.alerts import remove_alert_rule

    remove_alert_rule(rule_id)
    click.echo(f"removed rule {rule_id}")


@monitor.command("check")
@click.argument("ref", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def check(ref: str | None, fmt: str) -> None:
    """Evaluate the alert rules (of REF's model) now; print the alerts that fired."""
    from nbmlops.monitoring.alerts import check_alerts

    events = check_alerts(ref)
    if fmt == "json":
        click.echo(json.dumps(events, indent=2, default=str))
        return
    if not events:
        click.echo("no new alerts")
    for e in events:
        runs = ", ".join(f"{r['pipeline']} -> {r['run_id'] or '-'} ({r['status']})"
                         for r in e["pipeline_runs"]) or "no pipeline"
        click.echo(f"ALERT {e['model']}/{e['version']}: {e['rule']} (value {e['value']:g}); "
                   f"started: {runs}")
