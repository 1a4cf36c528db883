"""nbmlops.output: the file channel inside pipeline steps, the store outside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbmlops
from nbmlops.pipelines import outputs
from nbmlops.store.pipelines import pipeline_store


def test_step_kernel_appends_to_the_outputs_file_and_the_runner_records_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = nbmlops.start_run("step")
    nbmlops.end_run()
    channel = tmp_path / "s.outputs.jsonl"
    monkeypatch.setenv("NBMLOPS_PARENT_RUN_ID", run.id)
    monkeypatch.setenv(outputs.OUTPUTS_FILE_ENV, str(channel))
    assert nbmlops.output("auc", 0.5) == 0.5
    nbmlops.output("label", "ok")
    nbmlops.output("auc", 0.75)  # a later value replaces an earlier one
    pstore = pipeline_store()
    assert pstore.get_outputs(run.id) == {}  # nothing written to the store by the kernel
    lines = [json.loads(line) for line in channel.read_text().splitlines()]
    assert [(r["run_id"], r["name"], r["value"]) for r in lines] == [
        (run.id, "auc", 0.5), (run.id, "label", "ok"), (run.id, "auc", 0.75)]
    with channel.open("a") as f:  # a line of another run, and one cut short by a kill
        f.write(json.dumps({"run_id": "other", "name": "x", "value": 1}) + "\n")
        f.write('{"run_id": "' + run.id + '", "name": "cut", "val')

    outputs.ingest_outputs_file(pstore, channel, run.id)
    assert not channel.exists()
    assert pstore.get_outputs(run.id) == {"auc": 0.75, "label": "ok"}
    assert nbmlops.get_run(run.id).metrics == {"auc": 0.75}  # numbers are metrics too
    outputs.ingest_outputs_file(pstore, channel, run.id)  # no file: nothing to record


def test_outside_a_step_output_goes_to_the_active_run_or_memory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBMLOPS_PARENT_RUN_ID", raising=False)
    monkeypatch.delenv(outputs.OUTPUTS_FILE_ENV, raising=False)
    with nbmlops.start_run("alone") as run:
        nbmlops.output("n", 3)
    assert pipeline_store().get_outputs(run.id) == {"n": 3}
    assert nbmlops.get_run(run.id).metrics == {"n": 3.0}
    nbmlops.output("m", [1, 2])
    assert outputs.standalone["m"] == [1, 2]


def test_pipeline_outputs_reach_the_store_and_leave_no_channel_file(basic: Path) -> None:
    result = nbmlops.run_pipeline(basic / "pipeline.yaml", progress=False)
    assert result.ok, result.summary()
    pstore = pipeline_store()
    for name, step in result.steps.items():
        assert pstore.get_outputs(step.run_id) == result.outputs[name]
        assert not list(step.notebook.parent.glob("*.outputs.jsonl"))
    assert set(result.timings) >= {"validate", "start run", "prepare", "execute", "record"}
