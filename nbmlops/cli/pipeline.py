"""``nbmlops pipeline``: validate and run notebook pipelines."""

from __future__ import annotations

import click


@click.group("pipeline")
def pipeline() -> None:
    """Validate and run pipelines of papermill notebooks (pipeline.yaml)."""


@pipeline.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Override a pipeline param (value read as YAML: 200, 0.1, true, text).")
@click.option("--force", is_flag=True, help="Run every step even if cached results are valid.")
@click.option("--only", multiple=True, metavar="STEP",
              help="Run just this step (repeatable); upstream results are reused.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many independent steps may run at once.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Run steps in local threads or on Dask distributed.")
@click.option("--address", default=None, metavar="tcp://HOST:PORT",
              help="Dask scheduler address (a local cluster when omitted).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary table.")
def run(spec: str, params: tuple[str, ...], force: bool, only: tuple[str, ...], jobs: int,
        executor: str, address: str | None, quiet: bool) -> None:
    """Run the pipeline in SPEC; exit 1 naming the failed step, cell and error."""
    from nbmlops._format import failed_step
    from nbmlops.pipelines.params import parse_params
    from nbmlops.pipelines.progress import BaseProgress, TerminalProgress
    from nbmlops.pipelines.runner import run_pipeline

    progress = BaseProgress() if quiet else TerminalProgress()
    result = run_pipeline(spec, params=parse_params(params), force=force, jobs=jobs,
                          executor=executor, only=list(only) or None, address=address,
                          progress=progress)
    if quiet:
        click.echo(result.summary())
    for outcome in result.failed:
        click.echo(failed_step(outcome), err=True)
    result.raise_for_status()


@pipeline.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False))
def validate(spec: str) -> None:
    """Check SPEC, its notebooks and their parameters without running anything."""
    from nbmlops._format import pipeline_valid
    from nbmlops.pipelines.notebooks import validate_notebooks
    from nbmlops.pipelines.spec import load_spec

    loaded = load_spec(spec)
    click.echo(pipeline_valid(loaded, validate_notebooks(loaded)))
