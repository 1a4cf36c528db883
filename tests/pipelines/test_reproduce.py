"""Reproduce: re-execute a pipeline or step run in a fresh kernel and compare metrics."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import nbmlops
from nbmlops.cli import cli
from nbmlops.pipelines.reproduce import reproduce
from tests.pipelines.test_runner import edit_cell


def test_reproduce_pipeline_then_detect_code_change(basic: Path) -> None:
    original = nbmlops.run_pipeline(basic / "pipeline.yaml", params={"alpha": 0.3},
                                    progress=False)
    result = reproduce(original.run_id, progress=False)
    assert result.ok, result.summary()
    checks = {(c.path, c.key): c.status for c in result.checks}
    assert checks[("train", "coef")] == "match" and checks[("train/fit", "mse")] == "match"
    assert checks[("evaluate", "score")] == "match"
    new = nbmlops.get_run(result.new_run_id)
    assert new.params["alpha"] == 0.3  # the recorded params, not the YAML defaults
    assert new.tags["nbmlops.reproduce.result"] == "match"
    assert json.loads(new.load_artifact("reproduction.json"))["ok"] is True
    assert result.code_changes == []

    edit_cell(basic / "train.ipynb", 5, "coef = sxy / sxx", "coef = sxy / sxx * 1.5")
    step = original.steps["train"].run_id
    res = CliRunner().invoke(cli, ["reproduce", step])
    assert res.exit_code == 1, res.output
    assert "NOT REPRODUCED" in res.output
    assert "mismatch coef" in res.output and "mismatch fit:mse" in res.output
    assert "code changed: train: notebook changed: cell 5" in res.output
    assert nbmlops.get_run(step).tags["nbmlops.reproduce.last"].endswith(" mismatch")

    loose = reproduce(step, rtol=1.0)
    assert loose.ok  # within a 100% tolerance


def test_reproduce_needs_a_notebook_or_pipeline() -> None:
    with nbmlops.start_run("plain") as run:
        run.log_metric("x", 1)
    res = CliRunner().invoke(cli, ["reproduce", run.id])
    assert res.exit_code == 1
    assert "records no notebook, pipeline or kernel history" in str(res.exception)
    assert "it was not made in a Jupyter kernel or by %%track" in str(res.exception)
