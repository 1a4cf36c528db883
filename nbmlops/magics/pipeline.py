"""``%pipeline run|validate`` and ``%reproduce RUN_ID``: pipelines from a notebook."""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from nbmlops.errors import NbmlopsError
from nbmlops.magics._ipython import (
    argument,
    line_magic,
    magic_arguments,
    parse_argstring,
    strip_comment,
)


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

    @line_magic("reproduce")
    def reproduce(self, line: str = "") -> Any:
        """Re-execute the notebook or pipeline behind a run and compare its metrics.

        Usage::

            %reproduce 3f2a9c...            # default rtol 1e-6
            %reproduce 3f2a9c... --rtol 0.01

        Returns the Reproduction; its summary says what matched and what code or
        environment changed since the run.
        """
        words = shlex.split(strip_comment(line))
        if not words:
            raise UsageError("usage: %reproduce RUN_ID [--rtol R] [--atol A]")
        options = dict(zip(words[1::2], words[2::2], strict=False))
        unknown = set(options) - {"--rtol", "--atol"}
        if unknown or len(words) % 2 == 0:
            raise UsageError("usage: %reproduce RUN_ID [--rtol R] [--atol A]")
        from nbmlops.pipelines.progress import BaseProgress
        from nbmlops.pipelines.reproduce import reproduce

        try:
            result = reproduce(words[0], rtol=float(options.get("--rtol", 1e-6)),
                               atol=float(options.get("--atol", 0.0)), progress=BaseProgress())
        except (NbmlopsError, ValueError) as exc:
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
