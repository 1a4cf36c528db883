"""Real pipelines (prep → train → evaluate) through real papermill and kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nbmlops
from nbmlops.pipelines.results import PipelineRun


def run(path: Path, **kwargs: object) -> PipelineRun:
    return nbmlops.run_pipeline(path / "pipeline.yaml", progress=False, **kwargs)  # type: ignore[arg-type]


def statuses(result: PipelineRun) -> dict[str, str]:
    return {name: s.status for name, s in result.steps.items()}


def edit_cell(notebook: Path, number: int, old: str, new: str) -> None:
    nb = json.loads(notebook.read_text())
    cell = nb["cells"][number - 1]
    source = "".join(cell["source"])
    assert old in source
    cell["source"] = source.replace(old, new)
    notebook.write_text(json.dumps(nb))


def test_runs_record_outputs_child_runs_and_notebooks(basic: Path) -> None:
    result = run(basic)
    assert result.ok and statuses(result) == dict.fromkeys(("prep", "train", "evaluate"), "ran")
    assert result.outputs["prep"] == {"n_rows": 5}
    coef = result.outputs["train"]["coef"]
    assert result.outputs["evaluate"] == {"score": 1.0}
    assert json.loads((basic / "model.json").read_text()) == {"coef": coef}

    parent = nbmlops.get_run(result.run_id)
    assert parent.status.value == "FINISHED" and parent.experiment == "basic"
    assert parent.params == {"alpha": 0.1, "scale": 1.0}
    train = nbmlops.get_run(result.steps["train"].run_id)
    assert train.info.parent_run_id == parent.id
    assert train.params == {"alpha": 0.1, "n_rows": 5}  # ${...} resolved, types kept
    assert train.metrics == {"coef": coef, "mse": pytest.approx(result.outputs["train"]["mse"])}
    assert train.info.notebook_path == str(basic / "train.ipynb")
    assert train.tags["nbmlops.pipeline.step"] == "train"
    executed = json.loads(train.load_artifact("executed.ipynb"))
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert train.status.value == "FINISHED" and train.info.end_time is not None

    # the start_run() inside train.ipynb attached to the step run via NBMLOPS_PARENT_RUN_ID
    fit = nbmlops.runs(filter="name = 'fit'")
    assert len(fit) == 1
    assert nbmlops.get_run(fit.run_id[0]).info.parent_run_id == train.id


def test_cache_and_every_invalidation_cause(basic: Path) -> None:
    run(basic)
    again = run(basic)
    assert statuses(again) == dict.fromkeys(("prep", "train", "evaluate"), "cached")
    first_train = again.steps["train"].cached_from
    assert again.steps["train"].reason == f"unchanged since run {first_train[:8]}"
    assert again.outputs["train"]["coef"] > 0  # cached outputs still flow downstream

    changed = run(basic, params={"alpha": 0.2})
    assert statuses(changed) == {"prep": "cached", "train": "ran", "evaluate": "ran"}
    assert changed.steps["train"].reason == "parameter alpha 0.1→0.2"
    assert "upstream step train changed" in changed.steps["evaluate"].reason

    edit_cell(basic / "evaluate.ipynb", 5, "< threshold", "<= threshold")
    code = run(basic, params={"alpha": 0.2})
    assert statuses(code) == {"prep": "cached", "train": "cached", "evaluate": "ran"}
    assert code.steps["evaluate"].reason == "notebook changed: cell 5"

    edit_cell(basic / "evaluate.ipynb", 1, "# Evaluate", "# Evaluate the model")  # markdown
    assert statuses(run(basic, params={"alpha": 0.2}))["evaluate"] == "cached"

    with (basic / "data" / "raw.csv").open("a") as f:
        f.write("6,12.2\n")
    data = run(basic, params={"alpha": 0.2})
    assert statuses(data) == dict.fromkeys(("prep", "train", "evaluate"), "ran")
    assert data.steps["prep"].reason == "input data/raw.csv changed"
    assert data.outputs["prep"] == {"n_rows": 6}

    (basic / "model.json").unlink()
    missing = run(basic, params={"alpha": 0.2})
    assert statuses(missing) == {"prep": "cached", "train": "ran", "evaluate": "cached"}
    assert missing.steps["train"].reason == "output model.json is missing"

    forced = run(basic, params={"alpha": 0.2}, force=True)
    assert {s.reason for s in forced.steps.values()} == {"forced (--force)"}


def test_only_runs_selected_step_with_upstream_results(basic: Path) -> None:
    first = run(basic)
    only = run(basic, only=["evaluate"])
    assert statuses(only) == {"prep": "cached", "train": "cached", "evaluate": "ran"}
    assert only.steps["train"].cached_from == first.steps["train"].run_id
    assert only.steps["evaluate"].reason == "selected with --only"


def test_only_without_history_is_an_error(basic: Path) -> None:
    with pytest.raises(nbmlops.errors.PipelineError, match="'prep' has never run"):
        run(basic, only=["train"])
