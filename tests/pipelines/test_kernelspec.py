"""A step notebook without a kernelspec runs on the current Python; failures keep their error."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import nbmlops
from nbmlops.pipelines.progress import short_reason


def _write(folder: Path, name: str, *sources: str) -> None:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])  # no kernelspec, as nbformat
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(folder / name))


def test_step_without_kernelspec_runs_on_the_current_python(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "rather" / "long" / "folder" / "of" / "notebooks"
    deep.mkdir(parents=True)
    _write(deep, "prep.ipynb", "n = 2",
           "import sys, nbmlops\nnbmlops.output('python', sys.executable)\n"
           "nbmlops.output('n', n)")
    _write(deep, "train.ipynb", "n = 2", "undefined_name_for_the_test + n")
    (deep / "p.yaml").write_text("name: nokernel\nsteps:\n"
                                 "  prep: {notebook: prep.ipynb, parameters: {n: 3}}\n"
                                 "  train: {notebook: train.ipynb, needs: [prep]}\n")
    result = nbmlops.run_pipeline(deep / "p.yaml", progress=False)
    prep, train = result.steps["prep"], result.steps["train"]
    assert prep.status == "ran", prep.reason
    assert prep.outputs["python"] == sys.executable
    assert prep.outputs["n"] == 3  # papermill injected it: the language defaulted too
    tag = nbmlops.get_run(prep.run_id).tags["nbmlops.pipeline.kernel"]
    assert tag == f"python3 (the notebook names no kernel, so the current Python runs it: " \
                  f"{sys.executable})"
    assert train.status == "failed"
    error = "NameError: name 'undefined_name_for_the_test' is not defined"
    assert error in train.reason and str(deep) in train.reason
    assert error in result.summary() and "failed in …/train.ipynb cell " in result.summary()


def test_short_reason_shortens_the_path_never_the_error() -> None:
    error = "FileNotFoundError: /data/in/a/very/long/path/raw.csv " + "x" * 80
    reason = f"never ran — step 'prep' failed in /very/long/path/to/the/prep.ipynb cell 4: {error}"
    assert short_reason(reason) == f"never ran — step 'prep' failed in …/prep.ipynb cell 4: {error}"
    assert short_reason("code changed") == "code changed"
