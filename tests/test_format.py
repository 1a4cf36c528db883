"""nbmlops._format: the text the magics and the CLI both print."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nbmlops._format import (
    DEPLOYMENT_COLUMNS,
    cell,
    deployment_row,
    failed_step,
    number,
    pipeline_valid,
    promoted,
    render,
    threshold,
    when,
)
from nbmlops.errors import PipelineStepError
from nbmlops.pipelines.results import StepOutcome

EPOCH = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), (0.123456789, "0.123457"), (float("nan"), "nan"), (3, "3"), ("rf", "rf"),
    (1e-9, "1e-09"),
])
def test_number(value: object, text: str) -> None:
    assert number(value) == text


def test_number_can_name_a_missing_value() -> None:
    assert number(None, "-") == "-"


@pytest.mark.parametrize(("value", "text"), [
    ({"min": 0.8}, "≥ 0.8"), ({"min": 0.8, "max": 1.0}, "≥ 0.8 and ≤ 1"),
    ([1, 2.5], "between 1 and 2.5"), (0.9123456789, "0.912346"), (None, ""),
    ({"other": 1}, "{'other': 1}"),
])
def test_threshold(value: object, text: str) -> None:
    assert threshold(value) == text


def test_when_takes_epochs_and_datetimes_in_utc() -> None:
    assert when(EPOCH) == "2023-11-14 22:13:20"
    assert when(EPOCH, zone=True) == "2023-11-14 22:13:20 UTC"
    plus_two = datetime(2023, 11, 15, 0, 13, 20, tzinfo=timezone(timedelta(hours=2)))
    assert when(plus_two) == "2023-11-14 22:13:20"
    assert when(None) == "-" and when(None, "") == ""


def test_cell_cuts_long_text_and_formats_times() -> None:
    assert cell("x" * 60, width=10) == "x" * 9 + "…"
    assert cell(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02 03:04:05"
    assert cell(None) == "" and cell(0.5) == "0.5"


def test_render_aligns_columns_under_a_rule() -> None:
    assert render(["a", "long"], [["xyz", "1"]]).splitlines() == ["a    long", "---  ----",
                                                                  "xyz  1"]
    assert render(["a"], []).splitlines() == ["a", "-"]


def test_deployment_row_follows_the_columns() -> None:
    row = {"name": "churn-8080", "ref": "churn@production", "version": 3,
           "url": "http://127.0.0.1:8080", "pid": 42, "status": "running", "runtime": "sklearn",
           "started_at": EPOCH}
    assert deployment_row(row) == ["churn-8080", "churn@production", "3",
                                   "http://127.0.0.1:8080", "42", "running", "sklearn",
                                   "2023-11-14 22:13:20"]
    assert len(DEPLOYMENT_COLUMNS) == len(deployment_row(row))
    assert deployment_row({**row, "pid": None, "started_at": None})[4:] == [
        "-", "running", "sklearn", "-"]


def test_failed_step_names_the_step_error_and_notebook() -> None:
    error = PipelineStepError("train", "train.ipynb", 3, "ValueError", "boom")
    kept = StepOutcome("train", "failed", "error", notebook=Path("out/train.ipynb"), error=error)
    assert failed_step(kept) == ("step train failed: step 'train' failed in train.ipynb cell 3: "
                                 "ValueError: boom; executed notebook: out/train.ipynb")
    assert failed_step(StepOutcome("eval", "failed", "timed out")) == \
        "step eval failed: timed out"


def test_promoted_says_what_the_alias_pointed_at_before() -> None:
    assert promoted("churn", "production", 2) == "churn@production -> version 2"
    assert promoted("churn", "production", 2, was=1, forced=True) == \
        "churn@production -> version 2 (was 1) [forced]"
    assert promoted("churn", "production", 2, was=2) == "churn@production -> version 2"


def test_pipeline_valid_lists_the_order_and_each_step(tmp_path: Path) -> None:
    from nbmlops.pipelines.notebooks import validate_notebooks
    from nbmlops.pipelines.spec import load_spec

    code = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "x = 1"}
    nb = json.dumps({"cells": [code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    for name in ("a", "b"):
        (tmp_path / f"{name}.ipynb").write_text(nb)
    spec_path = tmp_path / "pipeline.yaml"
    spec_path.write_text("name: demo\nsteps:\n  a:\n    notebook: a.ipynb\n"
                         "  b:\n    notebook: b.ipynb\n    needs: [a]\n")
    spec = load_spec(spec_path)
    assert pipeline_valid(spec, validate_notebooks(spec)).splitlines() == [
        "pipeline demo: 2 steps, valid (a → b)",
        "  a: a.ipynb, 1 code cells",
        "  b: b.ipynb (needs a), 1 code cells",
    ]


def test_when_treats_nan_as_unknown() -> None:
    assert when(float("nan"), "never", zone=True) == "never"
