"""What a pipeline execution returns: a PipelineRun holding one StepOutcome per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops.errors import PipelineError, PipelineStepError

STATUSES = ("ran", "cached", "failed", "skipped")


@dataclass
class StepOutcome:
    """How one step went: ``status`` is ran, cached, failed or skipped, and ``reason`` why."""

    name: str
    status: str
    reason: str
    run_id: str | None = None
    duration: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    output_files: dict[str, str] = field(default_factory=dict)
    notebook: Path | None = None  # the executed notebook (kept on failure, with traceback)
    cached_from: str | None = None
    attempts: int = 0
    error: PipelineError | None = None

    @property
    def ok(self) -> bool:
        """Return whether the step's results are usable (ran or cached)."""
        return self.status in ("ran", "cached")


@dataclass
class PipelineRun:
    """One execution of a pipeline: its run id and the outcome of every step."""

    name: str
    run_id: str
    spec_path: Path
    params: dict[str, Any]
    steps: dict[str, StepOutcome] = field(default_factory=dict)
    duration: float = 0.0
    #: seconds the runner spent per phase (validate, open store, start run, prepare,
    #: execute, record, finish) — where a run's time went beyond the notebooks
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether no step failed."""
        return not any(s.status == "failed" for s in self.steps.values())

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """Return {step: {name: value}} recorded with ``nbmlops.output``."""
        return {name: dict(s.outputs) for name, s in self.steps.items() if s.outputs}

    @property
    def failed(self) -> list[StepOutcome]:
        """Return the failed steps, in execution order."""
        return [s for s in self.steps.values() if s.status == "failed"]

    def raise_for_status(self) -> None:
        """Raise the first failed step's PipelineStepError (or PipelineError); else nothing."""
        for outcome in self.failed:
            if outcome.error is not None:
                raise outcome.error
            raise PipelineError(f"step {outcome.name!r} failed: {outcome.reason}")

    def summary(self) -> str:
        """Return the summary table as text."""
        from nbmlops.pipelines.progress import summary_text

        return summary_text(self)

    def __repr__(self) -> str:
        counts = {st: sum(s.status == st for s in self.steps.values()) for st in STATUSES}
        parts = ", ".join(f"{n} {st}" for st, n in counts.items() if n)
        return f"<PipelineRun {self.name!r} run_id={self.run_id} {parts}>"

    def _repr_html_(self) -> str:
        from nbmlops.pipelines.progress import summary_html

        return summary_html(self)


def step_error(step: str, notebook: Path | str, result: Any) -> PipelineStepError:
    """Return the PipelineStepError for a failed attempt (papermill's cell and error kept)."""
    err = PipelineStepError(step, str(notebook), result.cell_index, result.ename, result.evalue)
    err.traceback = result.traceback  # type: ignore[attr-defined]
    err.timed_out = result.timed_out  # type: ignore[attr-defined]
    return err
