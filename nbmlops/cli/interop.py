"""``nbmlops export mlflow`` and ``nbmlops import mlflow``: move history between trackers."""

from __future__ import annotations

import click


@click.group("export")
def export() -> None:
    """Write nbmlops runs and models into another tracker."""


@export.command("mlflow")
@click.option("--to", "to", required=True, metavar="TRACKING_URI",
              help="MLflow tracking URI, e.g. sqlite:///mlflow.db or file:///path/mlruns.")
@click.option("--experiment", default=None, help="Only this experiment (default: all).")
@click.option("--models", is_flag=True, help="Also export registered models and aliases.")
def export_mlflow_cmd(to: str, experiment: str | None, models: bool) -> None:
    """Export runs (params, metric history, tags, artifacts) to MLflow; idempotent."""
    from nbmlops.interop.mlflow_export import export_mlflow

    click.echo(str(export_mlflow(to, experiment=experiment, models=models)))


@click.group("import")
def import_() -> None:
    """Bring another tracker's history into nbmlops."""


@import_.command("mlflow")
@click.option("--from", "source", required=True, metavar="TRACKING_URI",
              help="MLflow tracking URI to read, e.g. sqlite:///mlflow.db.")
@click.option("--experiment", default=None, help="Only this MLflow experiment (default: all).")
@click.option("--no-models", is_flag=True, help="Skip registered models.")
def import_mlflow_cmd(source: str, experiment: str | None, no_models: bool) -> None:
    """Import MLflow runs, metric history, artifacts and registered models; idempotent."""
    from nbmlops.interop.mlflow_import import import_mlflow

    click.echo(str(import_mlflow(source, experiment=experiment, models=not no_models)))
