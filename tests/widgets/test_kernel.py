"""Panels in real kernels: a papermill-executed notebook and pipeline steps keep the text/html
snapshot, and the Pipelines panel lists what ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

import nbmlops
from nbmlops.widgets import PipelinesPanel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def notebook(path: Path, *cells: str) -> Path:
    """Write a notebook of code cells (the first one tagged ``parameters``)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nbformat.write(nb, path)
    return path


def outputs(path: Path) -> list[dict[str, Any]]:
    nb = nbformat.read(path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.kernel
def test_papermill_output_carries_the_html_snapshot(runs3: list[str], tmp_path: Path) -> None:
    import papermill

    src = notebook(tmp_path / "dash.ipynb", "refresh = None",
                   "import nbmlops\nd = nbmlops.dashboard(refresh=refresh)\nd",
                   "d.runs.selected = tuple(d.runs.frame['run_id'][:2])\nd.runs")
    out = tmp_path / "dash.out.ipynb"
    papermill.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False,
                               cwd=str(tmp_path), execution_timeout=300)
    found = [o for o in outputs(out) if o.get("output_type") == "execute_result"]
    assert [o for o in outputs(out) if o.get("output_type") == "error"] == []
    dash, runs = (o["data"] for o in found)
    assert WIDGET_VIEW in dash and "text/html" in dash  # live view + static fallback
    html = dash["text/html"]
    assert "nbmlops dashboard" in html and "run-2" in html and "<svg" not in html
    assert "data:image/png;base64," in runs["text/html"]  # curves of the selection
    assert "Compare" in runs["text/html"]


@pytest.mark.kernel
def test_pipeline_steps_and_the_pipelines_panel(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pipe"
    folder.mkdir()
    notebook(folder / "make.ipynb", "n = 3", "import nbmlops\nnbmlops.output('n', n)")
    notebook(folder / "report.ipynb", "n = 0",
             "import nbmlops\nfrom nbmlops.widgets import RunsPanel\nRunsPanel()")
    (folder / "pipeline.yaml").write_text(
        "name: dash\nsteps:\n  make:\n    notebook: make.ipynb\n"
        "  report:\n    notebook: report.ipynb\n    needs: [make]\n"
        "    parameters: {n: \"${steps.make.outputs.n}\"}\n")
    first = nbmlops.run_pipeline(folder / "pipeline.yaml", progress=False)
    first.raise_for_status()
    second = nbmlops.run_pipeline(folder / "pipeline.yaml", progress=False)
    assert {s.status for s in second.steps.values()} == {"cached"}

    executed = first.steps["report"].notebook
    assert executed is not None
    nb = json.loads(Path(executed).read_text())
    assert "widgets" not in nb.get("metadata", {})  # steps run with widget state off
    (shown,) = [o["data"] for o in outputs(Path(executed)) if "data" in o]
    assert "nbmlops-runs-panel" in shown["text/html"]

    monkeypatch.chdir(tmp_path)  # the kernel's folder: executed notebooks below it are links
    panel = PipelinesPanel()
    assert [x["run_id"] for x in panel.runs] == [second.run_id, first.run_id]
    assert panel.pipeline_run.value == second.run_id
    assert "cached" in panel.steps.value and "Steps of dash" in panel.steps.value
    panel.pipeline_run.value = first.run_id
    assert panel.steps.value.count("● ran") == 2
    assert "report.ipynb" in panel.steps.value and "<a href=" in panel.steps.value
    assert "2 ran" in panel.table.value and "2 cached" in panel.table.value
