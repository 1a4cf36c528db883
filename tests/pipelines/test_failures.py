"""Failures: kept notebooks with tracebacks, retries, timeouts, downstream skipping, exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbmlops
from nbmlops.cli import cli
from nbmlops.errors import PipelineStepError


def test_failures_retries_timeout_and_skipping(misc: Path) -> None:
    result = nbmlops.run_pipeline(misc / "failing.yaml", jobs=2, progress=False)
    steps = result.steps
    assert {n: s.status for n, s in steps.items()} == {
        "flaky": "ran", "boom": "failed", "after": "skipped", "slow": "failed"}
    assert steps["flaky"].attempts == 2 and steps["flaky"].outputs == {"recovered": True}
    assert steps["after"].reason == "upstream step boom failed" and steps["after"].run_id is None

    boom = steps["boom"]
    assert isinstance(boom.error, PipelineStepError)
    assert (boom.error.ename, boom.error.evalue) == ("ValueError", "bad value in boom")
    assert boom.error.cell_index == 1  # papermill's index of the failing cell
    executed = json.loads(boom.notebook.read_text())  # kept, with the traceback visible
    failing = [c for c in executed["cells"] if c["cell_type"] == "code" and c["outputs"]]
    assert "raise ValueError" in "".join(failing[0]["source"])
    assert failing[0]["outputs"][0]["ename"] == "ValueError"
    assert "papermill-error-cell-tag" in json.dumps(executed)  # papermill's visible marker
    run = nbmlops.get_run(boom.run_id)
    assert run.status.value == "FAILED" and "bad value in boom" in run.info.error
    assert "executed.ipynb" in [a.name for a in run.artifacts]

    slow = steps["slow"]
    assert slow.error.ename == "TimeoutError" and slow.error.cell_index == 1
    assert "timeout of 3s; the kernel was killed" in str(slow.error)
    assert "timeout of 3s" in json.dumps(json.loads(slow.notebook.read_text())["cells"][-1])

    assert not result.ok
    with pytest.raises(PipelineStepError, match="step 'boom' failed in .*boom.ipynb cell 1: "
                                                "ValueError: bad value in boom"):
        result.raise_for_status()
    assert nbmlops.get_run(result.run_id).status.value == "FAILED"


def test_cli_exits_nonzero_naming_step_cell_and_error(misc: Path) -> None:
    (misc / "one.yaml").write_text("name: one\nsteps:\n  boom: {notebook: boom.ipynb}\n")
    res = CliRunner().invoke(cli, ["pipeline", "run", str(misc / "one.yaml"), "--quiet"])
    assert res.exit_code == 1
    assert isinstance(res.exception, PipelineStepError)
    assert "step boom failed: step 'boom' failed in" in res.output
    assert "cell 1: ValueError: bad value in boom; executed notebook: " in res.output
    assert "boom  failed" in res.output  # the summary table
    assert f"failed in {misc / 'boom.ipynb'} cell 1" in str(res.exception)


def test_cli_validate_and_bad_spec(misc: Path) -> None:
    res = CliRunner().invoke(cli, ["pipeline", "validate", str(misc / "parallel.yaml")])
    assert res.exit_code == 0, res.output
    assert "join: sleepy.ipynb (needs left, right)" in res.output
    (misc / "bad.yaml").write_text("name: x\nsteps:\n  a: {notebok: boom.ipynb}\n")
    res = CliRunner().invoke(cli, ["pipeline", "run", str(misc / "bad.yaml")])
    assert res.exit_code == 1
    assert "bad.yaml:3: unknown key 'notebok' in step 'a' (did you mean 'notebook'?)" in \
        str(res.exception)
