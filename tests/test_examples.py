"""Every notebook in example_notebooks/ runs end to end through papermill (so none rots)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "example_notebooks").glob("*.ipynb"))


@pytest.mark.kernel
@pytest.mark.parametrize("notebook", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_notebook_runs(notebook: Path, tmp_path: Path) -> None:
    """Execute a copy of the example in a temp folder with a fresh store; no cell may fail."""
    import nbformat
    import papermill

    work = tmp_path / "work"
    shutil.copytree(notebook.parent, work, ignore=shutil.ignore_patterns("out", ".nbmlops"))
    out = tmp_path / f"{notebook.stem}.out.ipynb"
    papermill.execute_notebook(
        str(work / notebook.name), str(out), cwd=str(work), kernel_name="python3",
        progress_bar=False, execution_timeout=300,
    )
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []


@pytest.mark.kernel
def test_example_pipeline_runs_then_caches(tmp_path: Path) -> None:
    """example_notebooks/pipeline/ runs every step, then a second run reuses them all."""
    import nbmlops

    work = tmp_path / "pipeline"
    shutil.copytree(ROOT / "example_notebooks" / "pipeline", work,
                    ignore=shutil.ignore_patterns("data", "*.skops", ".nbmlops"))
    first = nbmlops.run_pipeline(work / "pipeline.yaml", params={"n_estimators": 20},
                                 progress=False)
    first.raise_for_status()
    assert {name: s.status for name, s in first.steps.items()} == {
        "prep": "ran", "train": "ran", "evaluate": "ran"}
    second = nbmlops.run_pipeline(work / "pipeline.yaml", params={"n_estimators": 20},
                                  progress=False)
    assert {s.status for s in second.steps.values()} == {"cached"}
