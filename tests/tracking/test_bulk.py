"""log_runs: a DataFrame of runs in one transaction; bad rows store nothing."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import InvalidNameError, ValidationError


def _frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "name": [f"trial-{i}" for i in range(n)],
        "params.lr": [0.1 * (i + 1) for i in range(n)],
        "params.model": ["rf", "lr"] * (n // 2),
        "metrics.acc": [0.5 + i / 10 for i in range(n)],
        "duration": [2.0] * n,
    })


def test_rows_become_finished_runs_in_the_runs_shape() -> None:
    ids = nbmlops.log_runs(_frame(), experiment="sweep")
    assert len(ids) == 4 and len(set(ids)) == 4
    got = nbmlops.runs(experiment="sweep", order_by="metrics.acc ASC")
    assert list(got["run_id"]) == ids
    assert list(got["params.model"]) == ["rf", "lr", "rf", "lr"]
    assert got["metrics.acc"].tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert set(got["status"]) == {"FINISHED"} and got["duration"].tolist() == [2.0] * 4
    run = nbmlops.get_run(ids[0])
    assert run.params == {"lr": 0.1, "model": "rf"}
    assert list(run.metric_history("acc")["value"]) == [0.5]
    assert len(nbmlops.runs(filter="params.model = 'lr' and metrics.acc > 0.65")) == 1


def test_a_runs_frame_round_trips() -> None:
    nbmlops.log_runs(_frame(), experiment="a")
    frame = nbmlops.runs(experiment="a")
    again = frame[["name", "start_time", "duration", "params.lr", "params.model", "metrics.acc"]]
    nbmlops.log_runs(again, experiment="b")
    copy = nbmlops.runs(experiment="b")
    assert sorted(copy["name"]) == sorted(frame["name"])
    gap = (copy["start_time"].sort_values().reset_index(drop=True)
           - frame["start_time"].sort_values().reset_index(drop=True)).abs().max()
    assert gap < pd.Timedelta(microseconds=1)  # float epoch seconds in the store


def test_missing_values_are_not_stored() -> None:
    frame = _frame(2)
    frame.loc[0, "params.lr"] = math.nan
    ids = nbmlops.log_runs(frame)
    assert nbmlops.get_run(ids[0]).params == {"model": "rf"}


@pytest.mark.parametrize(("frame", "error", "match"), [
    (pd.DataFrame({"name": ["a"], "loss": [1.0]}), ValidationError, "'loss'"),
    (pd.DataFrame({"name": ["bad name!"], "metrics.m": [1.0]}), InvalidNameError, "bad name"),
    (pd.DataFrame({"name": ["a", "b"], "metrics.m": [1.0, "high"]}), ValidationError, "high"),
    (pd.DataFrame({"name": ["a"], "params.": [1]}), ValidationError, "params."),
    ([{"name": "a"}], ValidationError, "DataFrame"),
])
def test_bad_input_stores_nothing(frame: object, error: type[Exception], match: str) -> None:
    nbmlops.log_runs(_frame(2), experiment="keep")
    before = nbmlops.store_info()
    with pytest.raises(error, match=match):
        nbmlops.log_runs(frame)  # type: ignore[arg-type]
    after = nbmlops.store_info()
    assert (after.runs, after.experiments) == (before.runs, before.experiments)


def test_a_runs_frame_is_refused_naming_its_own_columns_then_its_selection_copies() -> None:
    nbmlops.log_runs(_frame(2), experiment="src")
    listed = nbmlops.runs(experiment="src")
    with pytest.raises(ValidationError, match="'run_id'.*select those columns"):
        nbmlops.log_runs(listed, experiment="copy")
    keep = ["name", *[c for c in listed.columns if c.startswith(("params.", "metrics."))]]
    ids = nbmlops.log_runs(listed[keep], experiment="copy")
    assert len(ids) == 2 and len(nbmlops.runs(experiment="copy")) == 2
