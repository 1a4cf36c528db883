"""``nbmlops reproduce RUN_ID``: re-execute a run's notebook or pipeline and compare metrics."""

from __future__ import annotations

import math
import sys

import click


def _finite(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", param=param)
    return value


@click.command("reproduce")
@click.argument("run_id")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-6, show_default=True,
              callback=_finite, help="Relative tolerance when comparing metrics.")
@click.option("--atol", type=click.FloatRange(min=0), default=0.0, show_default=True,
              callback=_finite, help="Absolute tolerance when comparing metrics.")
def reproduce(run_id: str, rtol: float, atol: float) -> None:
    """Re-execute what produced RUN_ID in a fresh kernel; exit 1 if metrics differ."""
    from nbmlops.pipelines.progress import BaseProgress
    from nbmlops.pipelines.reproduce import reproduce as reproduce_run

    result = reproduce_run(run_id, rtol=rtol, atol=atol, progress=BaseProgress())
    click.echo(result.summary())
    if not result.ok:
        sys.exit(1)
