"""``nbmlops models check`` runs a checks notebook that names no kernel (nbformat-written)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

import nbmlops
from nbmlops.registry.check_runner import run_checks_notebook


def test_checks_notebook_without_kernelspec(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    with nbmlops.start_run("fit"):
        nbmlops.log_model(LogisticRegression().fit(X, y))
    nbmlops.register_model("tiny")
    nb = new_notebook(cells=[
        new_code_cell('model_ref = ""', metadata={"tags": ["parameters"]}),
        new_code_cell("from nbmlops import checks\nsuite = checks.start(model_ref)\n"
                      "checks.check_metric('acc', lambda t, p: float((t == p).mean()), "
                      f"{X!r}, __import__('numpy').array({y!r}), min=0.5)\nchecks.finish()"),
    ])
    assert "kernelspec" not in nb.metadata
    path = tmp_path / "checks.ipynb"
    nbformat.write(nb, str(path))
    results = run_checks_notebook("tiny/1", path)
    assert [(r["check"], r["passed"]) for r in results] == [("acc", True)]
