"""run_pipeline: validate, then execute a pipeline's steps in dependency order with caching."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import PipelineError
from nbmlops.pipelines import cache, recording
from nbmlops.pipelines.executors import Execute, StepTask, execute_step, make_executor
from nbmlops.pipelines.notebooks import (
    NotebookInfo,
    check_param_overrides,
    check_types,
    validate_notebooks,
)
from nbmlops.pipelines.outputs import OUTPUTS_FILE_ENV, ingest_outputs_file
from nbmlops.pipelines.refs import resolve_parameters
from nbmlops.pipelines.results import PipelineRun, StepOutcome, step_error
from nbmlops.pipelines.spec import PipelineSpec, StepSpec, load_spec, references

#: the kernel of a step whose notebook names none: ipykernel's, on the current Python
DEFAULT_KERNEL = "python3"

if TYPE_CHECKING:
    from nbmlops.pipelines.executors import BaseExecutor
    from nbmlops.pipelines.progress import BaseProgress
    from nbmlops.store.pipelines import PipelineStore
    from nbmlops.tracking.run import Run


@dataclass
class _Pending:
    """A step submitted to the executor and the state needed to finish or retry it."""

    step: StepSpec
    run: Run
    task: StepTask
    fingerprint: dict[str, Any]
    key: str
    reason: str
    attempts: int = 1
    elapsed: float = 0.0  # seconds spent executing, summed over attempts


def run_pipeline(
    spec: str | Path | PipelineSpec,
    params: dict[str, Any] | None = None,
    force: bool = False,
    jobs: int = 1,
    executor: str = "local",
    *,
    only: list[str] | tuple[str, ...] | None = None,
    address: str | None = None,
    execute: Execute | None = None,
    progress: BaseProgress | bool | None = None,
    tags: dict[str, Any] | None = None,
    connect_timeout: float = 10.0,
) -> PipelineRun:
    """Return the PipelineRun after executing (or reusing from cache) every step.

    Parameters
    ----------
    spec
        Path of a pipeline.yaml, or a spec from :func:`~nbmlops.pipelines.spec.load_spec`.
    params
        Overrides of the pipeline's ``params`` (unknown names or wrong types raise).
    force
        Run every step even if its cached results are still valid.
    jobs
        How many independent steps may run at once.
    executor
        ``"local"`` (threads, each driving its own kernel) or ``"dask"``.
    only
        Run just these steps (always, ignoring the cache); other steps do not run and
        their latest successful results feed the selected ones.
    address
        Dask scheduler address (``tcp://host:8786``); a local cluster when omitted.
    execute
        The notebook executor, ``papermill.execute_notebook`` by default (tests stub it).
    progress
        A progress display; ``None`` picks one for the terminal or notebook, ``False`` none.
    tags
        Extra tags for the pipeline run (the scheduler tags its runs).

    Returns
    -------
    PipelineRun
        One StepOutcome per step (ran, cached, failed or skipped), ``outputs`` and ``ok``.

    Raises
    ------
    PipelineError
        When the spec, a notebook or a parameter is invalid — before anything runs.
        A failing step does not raise: see :meth:`PipelineRun.raise_for_status`.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.pipelines.progress import make_progress
    from nbmlops.store.pipelines import pipeline_store

    # no background warm-up of the environment scan here: it is GIL-bound like the
    # validation and imports it would overlap, so measured it saved nothing (~+0.01 s)
    timings: dict[str, float] = {}
    with _timed(timings, "validate"):
        spec, values, infos, selected = _validate(spec, params, only)
    with _timed(timings, "open store"):
        pstore = pipeline_store()
    runner = _Runner(spec, values, infos, force=force, selected=selected, execute=execute,
                     pstore=pstore, home=resolve_settings().home,
                     progress=make_progress(progress), timings=timings)
    pool = make_executor(executor, jobs=jobs, address=address, connect_timeout=connect_timeout)
    try:
        return runner.run(pool, tags)
    finally:
        pool.close()


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - t0


def outputs_file(executed: Path) -> Path:
    """Return the file a step's kernel appends its ``nbmlops.output`` values to."""
    return executed.with_suffix(".outputs.jsonl")


def _validate(spec: str | Path | PipelineSpec, params: dict[str, Any] | None,
              only: list[str] | tuple[str, ...] | None,
              ) -> tuple[PipelineSpec, dict[str, Any], dict[str, NotebookInfo], set[str] | None]:
    """Return (spec, param values, notebook infos, selected steps), raising before anything runs."""
    spec = spec if isinstance(spec, PipelineSpec) else load_spec(spec)
    values = check_param_overrides(spec, dict(params or {}))
    infos = validate_notebooks(spec)
    selected = _check_only(spec, only)
    _preflight_types(spec, infos, values)
    return spec, values, infos, selected


def _check_only(spec: PipelineSpec, only: list[str] | tuple[str, ...] | None) -> set[str] | None:
    if not only:
        return None
    unknown = [s for s in only if s not in spec.steps]
    if unknown:
        raise PipelineError(f"--only names unknown step(s) {', '.join(unknown)}; steps are: "
                            f"{', '.join(spec.order)}")
    return set(only)


def _preflight_types(spec: PipelineSpec, infos: dict[str, NotebookInfo],
                     values: dict[str, Any]) -> None:
    """Check parameters that read only pipeline params, before any step runs."""
    for name in spec.order:
        step = spec.steps[name]
        ready = {k: v for k, v in step.parameters.items()
                 if all(r.startswith("params.") for r in references(v))}
        check_types(name, infos[name], resolve_parameters(ready, values, {}))


class _Runner:
    """The scheduling loop of one pipeline execution."""

    def __init__(self, spec: PipelineSpec, values: dict[str, Any],
                 infos: dict[str, NotebookInfo], *, force: bool, selected: set[str] | None,
                 execute: Execute | None, pstore: PipelineStore, home: Path,
                 progress: BaseProgress, timings: dict[str, float] | None = None) -> None:
        self.spec, self.values, self.infos = spec, values, infos
        self.force, self.selected, self.execute = force, selected, execute
        self.pstore, self.home, self.progress = pstore, home, progress
        self.outcomes: dict[str, StepOutcome] = {}
        self.running: dict[Any, _Pending] = {}
        self.timings = timings if timings is not None else {}

    def run(self, pool: BaseExecutor, tags: dict[str, Any] | None) -> PipelineRun:
        """Execute the pipeline on ``pool``; return its PipelineRun."""
        t0 = time.perf_counter()
        with _timed(self.timings, "start run"):
            self.parent = recording.start_pipeline_run(self.spec, self.values, tags)
        self.pool = pool
        result = PipelineRun(self.spec.name, self.parent.id, self.spec.path, self.values,
                             self.outcomes, timings=self.timings)
        self.progress.start(self.spec, self.parent.id)
        try:
            self._loop()
        except BaseException as exc:
            for pending in self.running.values():
                pending.run.end("KILLED", "the pipeline runner stopped")
            self.parent.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED",
                            f"pipeline runner stopped: {exc!r}")
            raise
        result.steps = {name: self.outcomes[name] for name in self.spec.order}
        with _timed(self.timings, "finish"):
            failed = [o.name for o in result.failed]
            self.parent.set_tags({"nbmlops.pipeline.failed": ",".join(failed)}
                                 if failed else {})
            self.parent.end("FAILED" if failed else "FINISHED",
                            f"failed steps: {', '.join(failed)}" if failed else None)
        result.duration = time.perf_counter() - t0
        self.progress.finish(result)
        return result

    def _loop(self) -> None:
        running = self.running
        while len(self.outcomes) < len(self.spec.steps):
            for name in self._ready(running):
                with _timed(self.timings, "prepare"):
                    pending = self._prepare(name)
                if pending is not None:
                    running[self._submit(pending)] = pending
            if not running:
                continue
            for future in self.pool.wait_any(list(running)):
                pending = running.pop(future)
                result = future.result()
                self.timings["execute"] = self.timings.get("execute", 0.0) + result.duration
                with _timed(self.timings, "record"):
                    retry = self._collect(pending, result)
                if retry is not None:
                    running[self._submit(retry)] = retry

    def _ready(self, running: dict[Any, _Pending]) -> list[str]:
        busy = {p.step.name for p in running.values()}
        return [n for n in self.spec.order if n not in self.outcomes and n not in busy
                and all(d in self.outcomes for d in self.spec.steps[n].needs)]

    def _submit(self, pending: _Pending) -> Any:
        self.progress.step_started(pending.step.name, pending.reason, pending.attempts)
        hook = None if self.pool.remote else self.progress.cell
        return self.pool.submit(execute_step, pending.task, self.execute, hook)

    # one step ------------------------------------------------------------------
    def _finish(self, outcome: StepOutcome, run: Run | None = None,
                fingerprint: dict[str, Any] | None = None, key: str | None = None) -> None:
        if run is not None:
            recording.finish_step_run(run, outcome, self.pstore, self.spec.name,
                                      self.parent.id, fingerprint, key)
        self.outcomes[outcome.name] = outcome
        self.progress.step_done(outcome)

    def _prepare(self, name: str) -> _Pending | None:
        """Return a step to execute, or record it as skipped, cached or failed."""
        step = self.spec.steps[name]
        if self.selected is not None and name not in self.selected:
            if any(name in self.spec.upstream(s) for s in self.selected):
                self._reuse_unselected(step)
                return None
            self._finish(StepOutcome(name, "skipped", "not selected by --only"))
            return None
        bad = [d for d in step.needs if not self.outcomes[d].ok]
        if bad:
            self._finish(StepOutcome(name, "skipped", f"upstream step {bad[0]} "
                                     f"{self.outcomes[bad[0]].status}"))
            return None
        try:
            params = resolve_parameters(step.parameters, self.values, self._outputs())
            check_types(name, self.infos[name], params)
            fingerprint = self._fingerprint(step, params)
        except PipelineError as exc:
            self._finish(StepOutcome(name, "failed", str(exc), error=exc))
            return None
        key = cache.fingerprint_key(fingerprint)
        forced = self.force or self.selected is not None
        decision = None if forced else cache.decide(self.pstore, self.spec.name, name,
                                                    self.spec.root, fingerprint)
        run = recording.start_step_run(self.parent, self.spec, step, params)
        if decision is not None and decision.hit is not None:
            hit = decision.hit
            self._finish(StepOutcome(name, "cached", decision.reason, duration=0.0,
                                     outputs=hit["outputs"], output_files=hit["output_files"],
                                     cached_from=hit["cached_from"] or hit["run_id"]),
                         run, fingerprint, key)
            return None
        reason = decision.reason if decision is not None else (
            "forced (--force)" if self.force else "selected with --only")
        return _Pending(step, run, self._task(step, run, params), fingerprint, key, reason)

    def _reuse_unselected(self, step: StepSpec) -> None:
        latest = self.pstore.latest_step(self.spec.name, step.name)
        if latest is None:
            raise PipelineError(f"step {step.name!r} has never run, so --only cannot reuse its "
                                "results; run the pipeline once without --only")
        self._finish(StepOutcome(step.name, "cached", "not selected by --only; reusing run "
                                 f"{latest['run_id']}", outputs=latest["outputs"],
                                 output_files=latest["output_files"],
                                 cached_from=latest["run_id"]))

    def _outputs(self) -> dict[str, dict[str, Any]]:
        return {n: o.outputs for n, o in self.outcomes.items()}

    def _fingerprint(self, step: StepSpec, params: dict[str, Any]) -> dict[str, Any]:
        info = self.infos[step.name]
        upstream = {d: cache.result_digest(self.outcomes[d].output_files,
                                           self.outcomes[d].outputs) for d in step.needs}
        return {"code": [list(c) for c in info.cells], "kernel": step.kernel or info.kernel,
                "params": params, "upstream": upstream,
                "inputs": cache.hash_paths(self.spec.root, step.inputs, "input", step.name)}

    def _task(self, step: StepSpec, run: Run, params: dict[str, Any]) -> StepTask:
        from nbmlops.config import resolve_settings

        settings = resolve_settings()
        env = {"NBMLOPS_PARENT_RUN_ID": run.id, "NBMLOPS_NOTEBOOK_PATH": str(step.notebook),
               "NBMLOPS_HOME": str(settings.home), "NBMLOPS_STORE_URL": settings.store_url,
               "NBMLOPS_ARTIFACT_URL": settings.artifact_url,
               "NBMLOPS_PIPELINE_RUN_ID": self.parent.id, "NBMLOPS_PIPELINE_STEP": step.name}
        out = recording.executed_path(self.home, self.spec.name, self.parent.id, step.name)
        env[OUTPUTS_FILE_ENV] = str(outputs_file(out))  # nbmlops.output appends here
        kernel, python = step.kernel or self.infos[step.name].kernel, None
        if kernel is None:  # nbformat, jupytext and scripts write notebooks without one
            kernel, python = DEFAULT_KERNEL, sys.executable
            run.set_tags({recording.KERNEL_TAG: f"{kernel} (the notebook names no kernel, so "
                          f"the current Python runs it: {python})"})
        else:
            run.set_tags({recording.KERNEL_TAG: kernel})
        return StepTask(step.name, str(step.notebook), str(out), params, str(self.spec.root),
                        env, kernel, step.timeout, python)

    def _collect(self, pending: _Pending, result: Any) -> _Pending | None:
        """Finish a step from its attempt's result; return the pending step to retry."""
        step, out = pending.step, Path(pending.task.output_path)
        pending.elapsed += result.duration
        if result.ok or pending.attempts > step.retries:  # final attempt: keep its outputs
            ingest_outputs_file(self.pstore, outputs_file(out), pending.run.id)
        if result.ok:
            try:
                files = cache.hash_paths(self.spec.root, step.outputs, "declared output",
                                         step.name)
            except PipelineError as exc:
                self._fail(pending, exc, out, f"{exc} after running")
                return None
            outcome = StepOutcome(step.name, "ran", pending.reason,
                                  duration=pending.elapsed,
                                  outputs=self.pstore.get_outputs(pending.run.id),
                                  output_files=files, notebook=out, attempts=pending.attempts)
            self._finish(outcome, pending.run, pending.fingerprint, pending.key)
            return None
        if result.timed_out:
            recording.mark_timeout(out, result.evalue)
        if pending.attempts <= step.retries:
            self.progress.retrying(step.name, pending.attempts, result.ename, result.evalue)
            pending.attempts += 1
            return pending
        self._fail(pending, step_error(step.name, step.notebook, result), out,
                   pending.reason)
        return None

    def _fail(self, pending: _Pending, exc: PipelineError, out: Path, reason: str) -> None:
        outcome = StepOutcome(pending.step.name, "failed", f"{reason} — {exc}",
                              duration=pending.elapsed, notebook=out,
                              attempts=pending.attempts, error=exc)
        self._finish(outcome, pending.run, pending.fingerprint, pending.key)
