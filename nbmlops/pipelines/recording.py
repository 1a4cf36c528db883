"""Record a pipeline in the tracking store: the pipeline run, step child runs, cache records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.entities import RunStatus
from nbmlops.pipelines.results import StepOutcome

if TYPE_CHECKING:
    from nbmlops.pipelines.spec import PipelineSpec, StepSpec
    from nbmlops.store.pipelines import PipelineStore
    from nbmlops.tracking.run import Run

KIND_TAG = "nbmlops.kind"  # "pipeline" or "pipeline-step"
PIPELINE_TAG = "nbmlops.pipeline"
SPEC_TAG = "nbmlops.pipeline.spec"
STEP_TAG = "nbmlops.pipeline.step"
STATUS_TAG = "nbmlops.pipeline.status"
REASON_TAG = "nbmlops.pipeline.reason"
KERNEL_TAG = "nbmlops.pipeline.kernel"  # the kernel a step ran on, and why when defaulted


def start_pipeline_run(spec: PipelineSpec, params: dict[str, Any],
                       tags: dict[str, Any] | None) -> Run:
    """Return the RUNNING run of a pipeline execution (experiment = pipeline name)."""
    from nbmlops.tracking.api import start_run

    all_tags = {KIND_TAG: "pipeline", PIPELINE_TAG: spec.name, SPEC_TAG: str(spec.path),
                **(tags or {})}
    return start_run(spec.name, experiment=spec.name, params=params, tags=all_tags,
                     source=spec.path.read_text(), notebook_path=str(spec.path))


def start_step_run(parent: Run, spec: PipelineSpec, step: StepSpec,
                   params: dict[str, Any]) -> Run:
    """Return a RUNNING child run for a step (not made active: steps run concurrently)."""
    from nbmlops.tracking.buffer import get_buffer
    from nbmlops.tracking.run import Run

    store, artifacts = parent._store, parent._artifacts
    info = parent.info
    record = store.create_run(
        spec.name, step.name, parent_run_id=parent.id, notebook_path=str(step.notebook),
        environment_hash=info.environment_hash, git_commit=info.git_commit,
        git_dirty=info.git_dirty,
    )
    run = Run(record, store, artifacts)
    run.log_params(params)
    run.set_tags({KIND_TAG: "pipeline-step", PIPELINE_TAG: spec.name, STEP_TAG: step.name,
                  SPEC_TAG: str(spec.path)})
    get_buffer().watch(store, run.id)
    return run


def finish_step_run(run: Run, outcome: StepOutcome, pstore: PipelineStore,
                    pipeline: str, pipeline_run_id: str, fingerprint: dict[str, Any] | None,
                    key: str | None) -> None:
    """Log the executed notebook, tag the status and reason, end the run, write the record."""
    if outcome.notebook is not None and outcome.notebook.exists():
        run.log_artifact(outcome.notebook, "executed.ipynb")
    run.set_tags({STATUS_TAG: outcome.status, REASON_TAG: outcome.reason[:5000],
                  "nbmlops.pipeline.attempts": outcome.attempts,
                  **({"nbmlops.pipeline.cached_from": outcome.cached_from}
                     if outcome.cached_from else {})})
    if outcome.status == "cached" and outcome.outputs:
        import time

        from nbmlops.pipelines.outputs import record_outputs

        now = time.time()
        record_outputs(pstore, run.id, [(n, v, now) for n, v in outcome.outputs.items()])
    error = None
    if outcome.error is not None:
        error = getattr(outcome.error, "traceback", "") or str(outcome.error)
        error = f"{outcome.error}\n{error}" if error != str(outcome.error) else error
    run.end(RunStatus.FAILED if outcome.status == "failed" else RunStatus.FINISHED, error)
    outcome.run_id = run.id
    pstore.record_step(
        run.id, pipeline=pipeline, step=outcome.name, pipeline_run_id=pipeline_run_id,
        status=outcome.status, reason=outcome.reason, key=key, fingerprint=fingerprint or {},
        output_files=outcome.output_files, outputs=outcome.outputs,
        cached_from=outcome.cached_from, attempts=outcome.attempts, duration=outcome.duration,
    )


def executed_path(home: Path, pipeline: str, run_id: str, step: str) -> Path:
    """Return where a step's executed notebook is written."""
    folder = home / "pipelines" / pipeline / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{step}.ipynb"


def mark_timeout(path: Path, message: str) -> None:
    """Append a visible note to an executed notebook whose kernel was killed."""
    import nbformat

    if not path.exists():
        return
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"**nbmlops:** {message}"))
    nbformat.write(nb, str(path))
