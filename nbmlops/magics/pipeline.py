"""``%pipeline run|validate`` and ``%reproduce RUN_ID``: pipelines from a notebook."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from nbmlops.errors import NbmlopsError
from nbmlops.magics._ipython import (
    argument,
    line_magic,
    magic_arguments,
    parse_argstring,
)


def _tolerance(text: str) -> float:
    """Return a tolerance: a finite number >= 0 (argparse names the option on error)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, e.g. 0.01") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


@magics_class
class PipelineMagics(Magics):
    """``%pipeline`` and ``%reproduce``."""

    @magic_arguments()
    @argument("action", choices=["run", "validate"], help="run the pipeline or only check it")
    @argument("spec", help="path of the pipeline.yaml")
    @argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
              help="override a pipeline param (value read as YAML)")
    @argument("--force", action="store_true", help="run every step, ignoring the cache")
    @argument("--only", action="append", default=[], metavar="STEP",
              help="run just this step (repeatable)")
    @argument("-j", "--jobs", type=int, default=1, help="independent steps run at once")
    @argument("--executor", choices=["local", "dask"], default="local")
    @argument("--address", default=None, help="Dask scheduler address")
    @line_magic("pipeline")
    def pipeline(self, line: str = "") -> Any:
        """Run or validate a notebook pipeline; a live table shows progress.

        Usage::

            result = %pipeline run pipeline.yaml -p n_estimators=200 --jobs 2
            %pipeline validate pipeline.yaml

        Returns the PipelineRun (``result.steps``, ``result.outputs``); a failed step
        is reported as one line naming the step, cell and error.
        """
        args = parse_argstring(self.pipeline, line)
        try:
            return _ACTIONS[args.action](args)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc

    @magic_arguments()
    @argument("run_id", help="the run to re-execute (id, unique prefix, or 'last')")
    @argument("--rtol", type=_tolerance, default=1e-6,
              help="relative tolerance when comparing metrics (default 1e-6)")
    @argument("--atol", type=_tolerance, default=0.0,
              help="absolute tolerance when comparing metrics (default 0)")
    @line_magic("reproduce")
    def reproduce(self, line: str = "") -> Any:
        """Re-execute the notebook or pipeline behind a run and compare its metrics.

        Usage::

            %reproduce 3f2a9c...            # default rtol 1e-6
            %reproduce 3f2a9c... --rtol 0.01

        Returns the Reproduction; its summary says what matched and what code or
        environment changed since the run.
        """
        args = parse_argstring(self.reproduce, line)
        from nbmlops.pipelines.progress import BaseProgress
        from nbmlops.pipelines.reproduce import reproduce

        try:
            result = reproduce(args.run_id, rtol=args.rtol, atol=args.atol,
                               progress=BaseProgress())
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        print(result.summary())
        return result


def _run(args: Any) -> Any:
    from nbmlops._format import failed_step
    from nbmlops.pipelines.params import parse_params
    from nbmlops.pipelines.runner import run_pipeline

    result = run_pipeline(args.spec, params=parse_params(args.param), force=args.force,
                          jobs=args.jobs, executor=args.executor, only=args.only or None,
                          address=args.address)
    for outcome in result.failed:
        print(failed_step(outcome))
    return result


def _validate(args: Any) -> Any:
    from nbmlops._format import pipeline_valid
    from nbmlops.pipelines.notebooks import validate_notebooks
    from nbmlops.pipelines.spec import load_spec

    spec = load_spec(args.spec)
    print(pipeline_valid(spec, validate_notebooks(spec)))
    return spec


_ACTIONS = {"run": _run, "validate": _validate}
