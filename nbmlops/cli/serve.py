"""``nbmlops serve``, ``nbmlops deployments list|stop`` and ``nbmlops package``."""

from __future__ import annotations

import json

import click

from nbmlops._format import DEPLOYMENT_COLUMNS, deployment_row, render

RUNTIME = click.Choice(["auto", "onnx", "sklearn"])


@click.command("serve")
@click.argument("ref")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires a token.")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Worker processes, forked after the model is loaded (default: one per "
                   "available CPU core).")
@click.option("--runtime", type=RUNTIME, default="auto", show_default=True,
              help="onnx: onnxruntime, only if it matches scikit-learn; auto: onnx when it "
                   "does, else sklearn.")
@click.option("--token", default=None, envvar="NBMLOPS_SERVE_TOKEN", show_envvar=True,
              help="Require 'Authorization: Bearer TOKEN' (health probes stay open).")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=None,
              help="Reject larger request bodies with 413 (default 10 MiB).")
@click.option("--max-rows", type=click.IntRange(min=1), default=None,
              envvar="NBMLOPS_SERVE_MAX_ROWS", show_envvar=True,
              help="Reject requests with more rows with 413 (default 100,000).")
@click.option("--batching", type=click.Choice(["on", "off"]), default="on",
              show_default=True, help="Micro-batch concurrent single-row requests.")
@click.option("--log-predictions/--no-log-predictions", default=True, show_default=True,
              help="Write every prediction to the store for monitoring.")
@click.option("--poll-interval", type=click.FloatRange(min=0.05), default=1.0,
              show_default=True, help="Seconds between checks of the followed alias.")
def serve(ref: str, host: str, port: int, workers: int | None, runtime: str, token: str | None,
          max_body_bytes: int | None, max_rows: int | None, batching: str,
          log_predictions: bool, poll_interval: float) -> None:
    """Serve REF (name@alias, name/version, or a folder from `nbmlops package`) in the foreground.

    Endpoints: POST /invocations (MLflow payloads), /v2/models/NAME/infer (KServe V2),
    /health, /version, /metrics, /feedback, /docs.
    """
    from nbmlops.serving.server import serve as run

    run(ref, host=host, port=port, workers=workers, runtime=runtime, token=token,
        max_body_bytes=max_body_bytes, batching=batching, log_predictions=log_predictions,
        poll_interval=poll_interval, max_rows=max_rows)


@click.group("deployments")
def deployments() -> None:
    """List and stop model servers started with %deploy or nbmlops.deploy()."""


@deployments.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include stopped, failed and dead ones.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def list_cmd(show_all: bool, fmt: str) -> None:
    """List deployments with their URL, version, pid and live status."""
    from nbmlops.serving.deployments import list_deployments

    rows = [d.as_dict() for d in list_deployments(include_stopped=show_all)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no deployments" + ("" if show_all else " running (--all shows stopped ones)"))
        return
    click.echo(render(list(DEPLOYMENT_COLUMNS), [deployment_row(r) for r in rows]))


@deployments.command("stop")
@click.argument("name_or_port")
def stop_cmd(name_or_port: str) -> None:
    """Stop the deployment NAME_OR_PORT (name, port, or model name if unique)."""
    from nbmlops.serving.deployments import stop_deployment

    dep = stop_deployment(name_or_port)
    click.echo(f"stopped {dep.name} ({dep.url}, pid {dep.pid})")


@click.command("package")
@click.argument("ref")
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write (must be empty or missing).")
@click.option("--force", is_flag=True, help="Overwrite files in a non-empty folder.")
def package(ref: str, out: str, force: bool) -> None:
    """Write a deployable folder for REF: model, pinned requirements, Dockerfile."""
    from nbmlops.serving.package import package_model

    result = package_model(ref, out, force=force)
    click.echo(f"wrote {result.name}/{result.version} to {result.path}")
    for f in result.files:
        click.echo(f"  {f}")
    click.echo(f"build: docker build -t {result.name}:{result.version} {result.path}")
