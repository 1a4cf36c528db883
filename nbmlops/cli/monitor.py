"""``nbmlops monitor REF``: drift, latency and live accuracy of a served model version."""

from __future__ import annotations

import json

import click


@click.command("monitor")
@click.argument("ref")
@click.option("--window", "window_s", type=float, default=None,
              help="Only the last SECONDS of traffic (default: all logged traffic).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def monitor(ref: str, window_s: float | None, fmt: str) -> None:
    """Show REF's (NAME@ALIAS or NAME/VERSION) traffic, latency, drift and live accuracy."""
    from nbmlops.monitoring.report import monitor as build

    report = build(ref, window_s=window_s)
    if fmt == "json":
        drift = [] if report.drift is None else report.drift.to_dict(orient="records")
        click.echo(json.dumps({
            "model": report.model, "version": report.version, "requests": report.requests,
            "rows": report.rows, "latency_ms": report.latency_ms, "accuracy": report.accuracy,
            "labelled_rows": report.labelled_rows, "reference": report.reference,
            "drift": drift, "drifted_columns": report.drifted_columns, "notes": report.notes,
        }, indent=2, default=str))
        return
    click.echo(f"{report.model}/{report.version}: {report.requests} requests, "
               f"{report.rows} rows")
    if report.latency_ms:
        click.echo("latency: " + ", ".join(f"{k} {v:.2f} ms" for k, v in report.latency_ms.items()))
    acc = (f"{report.accuracy:.3f} on {report.labelled_rows} labelled rows"
           if report.accuracy is not None else "no feedback yet")
    click.echo(f"live accuracy: {acc}")
    if report.drift is not None:
        click.echo(f"drift vs {report.reference} (PSI > 0.25 = drift):")
        click.echo(report.drift.to_string(index=False))
    for note in report.notes:
        click.echo(f"note: {note}")
