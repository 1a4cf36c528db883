"""Reproduce runs made in a kernel with no notebook file: the recorded history is replayed."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

import nbmlops
from nbmlops.cli import cli
from nbmlops.errors import PipelineError
from nbmlops.pipelines.reproduce import reproduce
from nbmlops.tracking.session import papermill_parameters

CELLS = [
    "alpha = 1.0",  # parameters
    "%load_ext nbmlops",
    "import numpy as np\nfrom sklearn.linear_model import Ridge\n"
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(80, 3))\n"
    "y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.1, size=80)",
    "X = X * 2  # state the notebook file would not show if this cell were deleted",
    "undefined_name  # failed in the session (raises-exception): the replay goes on",
    "%%track ridge --params alpha --metrics score  # a comment\n"
    "model = Ridge(alpha=alpha).fit(X, y)\nscore = model.score(X, y)",
    "import nbmlops\nfor k in (1, 2):\n"
    "    with nbmlops.start_run('sweep', params={'k': k}):\n"
    "        with nbmlops.start_run('inner'):  # nested: replayed from its top-level run\n"
    "            nbmlops.log_metric('m', alpha * k + float(X.sum()))",
]


@pytest.mark.kernel
def test_papermill_runs_replay_from_the_kernel_history(tmp_path: Path) -> None:
    import papermill

    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.cells[4].metadata["tags"] = ["raises-exception"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    source = tmp_path / "train.ipynb"
    nbformat.write(nb, str(source))
    with pytest.raises(papermill.PapermillExecutionError, match="undefined_name"):
        papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"),
                                   parameters={"alpha": 0.25}, kernel_name="python3",
                                   progress_bar=False, cwd=str(tmp_path))
    source.unlink()  # no notebook file is known any more: the history is all there is
    runs = nbmlops.runs(order_by="start_time ASC")
    assert runs["name"].tolist() == ["ridge", "sweep", "inner", "sweep", "inner"]
    for run_id in runs["run_id"][:1]:  # a nested run goes through the CLI below
        result = reproduce(run_id)
        assert result.ok, result.summary()
        assert result.source.startswith("the kernel history recorded with the run (")
        assert "papermill parameters {'alpha': 0.25}" in result.source
        assert {c.status for c in result.checks} == {"match"}
    second = runs["run_id"].iloc[4]  # the second sweep's inner run
    res = CliRunner().invoke(cli, ["reproduce", second[:8]])
    assert res.exit_code == 0, res.output
    assert "re-executed: the kernel history recorded with the run (8 cells" in res.output
    assert "match    m  recorded=" in res.output
    new = nbmlops.get_run(nbmlops.get_run(second).tags["nbmlops.reproduce.last"].split()[0])
    assert json.loads(new.load_artifact("reproduction.json"))["source"].startswith("the kernel")


def test_papermill_parameters_are_recognised() -> None:
    cells = ["x = 1", "# Parameters\nalpha = 0.5\nname = \"a\"\nitems = [1, 2]\n", "y = 2"]
    assert papermill_parameters(cells) == {"alpha": 0.5, "name": "a", "items": [1, 2]}
    assert papermill_parameters(["x = 1"]) is None


def test_a_run_without_history_is_refused_and_changes_nothing() -> None:
    with nbmlops.start_run("plain") as run:
        run.log_metric("x", 1)
    before = nbmlops.runs()
    with pytest.raises(PipelineError, match=f"run {run.id} records no notebook, pipeline or "
                                            "kernel history.*not made in a Jupyter kernel"):
        reproduce(run.id)
    assert nbmlops.runs().equals(before)
