"""Run one notebook as a one-step pipeline (the sidebar's "Run this notebook as a step")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from nbmlops.errors import PipelineError

if TYPE_CHECKING:
    from nbmlops.pipelines.executors import Execute
    from nbmlops.pipelines.progress import BaseProgress
    from nbmlops.pipelines.results import PipelineRun
    from nbmlops.pipelines.spec import PipelineSpec


def notebook_spec(notebook: str | Path) -> PipelineSpec:
    """Return a one-step spec running ``notebook`` in its own folder (the pipeline is the notebook).

    The pipeline and its step are named after the notebook's file name; the pipeline run
    records the notebook itself as its spec.
    """
    from nbmlops.pipelines.spec import PipelineSpec, StepSpec

    path = Path(notebook).expanduser().resolve()
    if path.suffix != ".ipynb":
        raise PipelineError(f"{notebook} is not a notebook: give the path of an .ipynb file")
    if not path.is_file():
        raise PipelineError(f"notebook {notebook} does not exist")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-") or "notebook"
    step = StepSpec(name=name, notebook=path)
    return PipelineSpec(name=name, path=path, params={}, steps={name: step}, order=(name,),
                        description=f"the notebook {path.name} run as one pipeline step")


def run_notebook_step(notebook: str | Path, *, force: bool = True, execute: Execute | None = None,
                      progress: BaseProgress | bool | None = False) -> PipelineRun:
    """Return the PipelineRun of executing ``notebook`` (papermill) as a one-step pipeline.

    ``force=False`` reuses a cached result when nothing changed. The step is a run (a
    child of the pipeline run) with the executed notebook attached, as in a pipeline.yaml.
    """
    from nbmlops.pipelines.runner import run_pipeline

    return run_pipeline(notebook_spec(notebook), force=force, execute=execute, progress=progress)
