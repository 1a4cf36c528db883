"""The tracking API: run lifecycle, logging to the active run, querying runs."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

import nbmlops
from nbmlops.entities import RunStatus
from nbmlops.errors import (
    ConflictError,
    FilterError,
    InvalidNameError,
    RunNotFound,
    ValidationError,
)
from nbmlops.tracking.values import ReprParamWarning


def test_context_manager_finishes_run() -> None:
    with nbmlops.start_run("train", experiment="exp", params={"lr": 0.1}, tags={"t": "x"}) as run:
        assert nbmlops.active_run() is run
        assert run.status is RunStatus.RUNNING
        nbmlops.log_metric("acc", 0.9)
    assert nbmlops.active_run() is None
    got = nbmlops.get_run(run.id)
    assert got.status is RunStatus.FINISHED and got.record.end_time is not None
    assert (got.name, got.experiment) == ("train", "exp")
    assert got.params == {"lr": 0.1} and got.tags == {"t": "x"}
    assert got.metrics == {"acc": 0.9}


def test_context_manager_failure_keeps_traceback_and_propagates() -> None:
    with pytest.raises(ZeroDivisionError), nbmlops.start_run("bad") as run:
        nbmlops.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    got = nbmlops.get_run(run.id)
    assert got.status is RunStatus.FAILED
    error = got.record.error or ""
    assert error.startswith("Traceback") and "ZeroDivisionError: division by zero" in error
    assert got.metrics == {"before": 1.0}  # metrics logged before the failure are kept
    assert nbmlops.active_run() is None


def test_keyboard_interrupt_marks_killed() -> None:
    with pytest.raises(KeyboardInterrupt), nbmlops.start_run() as run:
        raise KeyboardInterrupt
    assert nbmlops.get_run(run.id).status is RunStatus.KILLED


def test_nested_runs_become_children() -> None:
    with nbmlops.start_run("parent") as parent:
        with nbmlops.start_run("child") as child:
            assert nbmlops.active_run() is child
            nbmlops.log_param("where", "child")
        assert nbmlops.active_run() is parent
        nbmlops.log_param("where", "parent")
    assert child.record.parent_run_id == parent.id
    assert parent.record.parent_run_id is None
    assert child.params == {"where": "child"} and parent.params == {"where": "parent"}
    frame = nbmlops.runs(filter=f"parent_run_id = '{parent.id}'")
    assert list(frame["run_id"]) == [child.id]


def test_end_run_and_explicit_status() -> None:
    run = nbmlops.start_run()
    nbmlops.end_run("killed")
    assert run.status is RunStatus.KILLED
    with pytest.raises(ValidationError, match="no active run"):
        nbmlops.end_run()
    run = nbmlops.start_run()
    with pytest.raises(ValidationError, match="unknown run status 'done'; use one of RUNNING"):
        nbmlops.end_run("done")
    nbmlops.end_run()
    assert run.status is RunStatus.FINISHED


def test_logging_without_active_run_is_an_error() -> None:
    for call in (lambda: nbmlops.log_metric("m", 1), lambda: nbmlops.log_param("p", 1),
                 lambda: nbmlops.set_tag("t", "v"), lambda: nbmlops.log_artifact("x", "a.txt")):
        with pytest.raises(ValidationError, match="no active run"):
            call()


def test_log_functions_on_active_run() -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_params({"a": 1, "b": "two", "c": [1, 2], "d": None, "e": True})
        nbmlops.log_metrics({"x": 1, "y": 2.5})
        nbmlops.log_metric("x", 3, step=10)
        nbmlops.set_tags({"k": "v", "n": 5})
    assert run.params == {"a": 1, "b": "two", "c": [1, 2], "d": None, "e": True}
    assert run.metrics == {"x": 3.0, "y": 2.5}
    assert list(run.metric_history("x")["step"]) == [0, 10]
    assert run.tags == {"k": "v", "n": "5"}


def test_metric_steps_auto_increment_per_key() -> None:
    with nbmlops.start_run() as run:
        for i in range(3):
            nbmlops.log_metric("loss", 1 / (i + 1))
        nbmlops.log_metric("other", 0)
    hist = run.metric_history("loss")
    assert list(hist.columns) == ["step", "value", "timestamp"]
    assert list(hist["step"]) == [0, 1, 2]
    assert list(run.metric_history("other")["step"]) == [0]


def test_param_conflict_keeps_first_value() -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_param("lr", 0.1)
        nbmlops.log_param("lr", 0.1)
        with pytest.raises(ConflictError, match="immutable"):
            nbmlops.log_param("lr", 0.2)
    assert run.params == {"lr": 0.1}


@pytest.mark.parametrize("bad", ["a/b", "..", "has space", "x" * 251, "", "ü"])
def test_invalid_run_and_experiment_names(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        nbmlops.start_run(bad)
    with pytest.raises(InvalidNameError):
        nbmlops.start_run("ok", experiment=bad)
    assert nbmlops.runs().empty  # nothing was created


@pytest.mark.parametrize("bad", ["a/b", "../x", "has space", "k" * 251])
def test_invalid_keys_leave_run_unchanged(bad: str) -> None:
    with nbmlops.start_run() as run:
        with pytest.raises(InvalidNameError):
            nbmlops.log_metrics({"fine": 1.0, bad: 2.0})
        with pytest.raises(InvalidNameError):
            nbmlops.log_params({"fine": 1, bad: 2})
        with pytest.raises(InvalidNameError):
            nbmlops.set_tag(bad, "v")
    assert run.metrics == {} and run.params == {} and run.tags == {}


def test_name_of_250_characters_is_fine() -> None:
    with nbmlops.start_run("n" * 250) as run:
        nbmlops.log_metric("m" * 250, 1.0)
    assert run.name == "n" * 250 and run.metrics == {"m" * 250: 1.0}


def test_oversized_param_and_tag_refused() -> None:
    """Params and tags are bounded (6,000 and 8,000 characters); nothing is stored past it."""
    with nbmlops.start_run() as run:
        nbmlops.log_param("fits", "x" * 6000)
        nbmlops.set_tag("fits", "y" * 8000)
        with pytest.raises(ValidationError, match="params hold up to 6000"):
            nbmlops.log_param("big", "x" * 6001)
        with pytest.raises(ValidationError, match="tags hold up to 8000"):
            nbmlops.set_tags({"ok": "1", "big": "y" * 50_000_000})
    assert set(run.params) == {"fits"} and set(run.tags) == {"fits"}


def test_non_json_param_stored_as_repr_with_warning() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "Opaque(3)"

    with nbmlops.start_run() as run:
        with pytest.warns(ReprParamWarning, match="'obj' \\(Opaque\\) is not JSON-serialisable"):
            nbmlops.log_param("obj", Opaque())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            nbmlops.log_param("plain", {"a": [1, 2]})  # JSON: no warning
    assert run.params == {"obj": "Opaque(3)", "plain": {"a": [1, 2]}}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_metrics_stored_faithfully(value: float) -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_metric("m", value)
    got = run.metrics["m"]
    assert (math.isnan(got) and math.isnan(value)) or got == value
    frame = nbmlops.runs()
    stored = frame.loc[0, "metrics.m"]
    assert (math.isnan(stored) and math.isnan(value)) or stored == value


@pytest.mark.parametrize("bad", ["0.5", None, [1.0], {"a": 1}, 1j])
def test_non_number_metric_rejected(bad: object) -> None:
    with nbmlops.start_run() as run:
        with pytest.raises(ValidationError, match=f"metric 'm' must be a number, got "
                                                  f"{type(bad).__name__}"):
            nbmlops.log_metric("m", bad)
    assert run.metrics == {}


def test_numpy_values() -> None:
    import numpy as np

    with nbmlops.start_run() as run:
        nbmlops.log_metric("m", np.float32(0.5))
        nbmlops.log_param("n", np.int64(7))
    assert run.metrics == {"m": 0.5} and run.params == {"n": 7}


def _make_runs() -> dict[str, str]:
    ids = {}
    for i, (model, acc) in enumerate([("rf", 0.91), ("rf", 0.80), ("lr", 0.95)]):
        with nbmlops.start_run(f"r{i}", params={"model": model, "depth": i}) as run:
            nbmlops.log_metric("acc", acc)
            nbmlops.log_metric("loss", 1 - acc)
        ids[f"r{i}"] = run.id
    with nbmlops.start_run("elsewhere", experiment="other") as run:
        nbmlops.log_metric("acc", 0.99)
    ids["elsewhere"] = run.id
    return ids


def test_runs_frame_columns_and_values() -> None:
    ids = _make_runs()
    frame = nbmlops.runs(experiment="default")
    assert isinstance(frame, pd.DataFrame)
    cols = list(frame.columns)
    assert cols[:2] == ["run_id", "name"]
    for col in ("run_id", "name", "status", "start_time", "duration", "params.model",
                "params.depth", "metrics.acc", "metrics.loss"):
        assert col in cols
    assert max(cols.index(c) for c in cols if c.startswith("params.")) < min(
        cols.index(c) for c in cols if c.startswith("metrics."))
    assert list(frame["name"]) == ["r2", "r1", "r0"]  # newest first
    row = frame.set_index("run_id").loc[ids["r0"]]
    assert row["status"] == "FINISHED" and row["params.model"] == "rf"
    assert row["params.depth"] == 0 and row["metrics.acc"] == 0.91
    assert row["start_time"].tzinfo is not None
    rec = nbmlops.get_run(ids["r0"]).info  # the column is derived from the stored times
    assert rec.end_time is not None
    # (datetimes hold microseconds; the column is computed from the stored epoch floats)
    assert row["duration"] == pytest.approx(
        (rec.end_time - rec.start_time).total_seconds(), abs=2e-6)


def test_runs_filter_order_max_results() -> None:
    ids = _make_runs()
    frame = nbmlops.runs(filter="metrics.acc > 0.85 and params.model = 'rf'")
    assert list(frame["run_id"]) == [ids["r0"]]
    frame = nbmlops.runs(filter="metrics.acc > 0.9", order_by="metrics.acc DESC")
    assert list(frame["name"]) == ["elsewhere", "r2", "r0"]
    frame = nbmlops.runs(order_by=["metrics.acc"], max_results=2)
    assert list(frame["name"]) == ["r1", "r0"]
    assert nbmlops.runs(filter="metrics.acc > 2").empty
    assert list(nbmlops.runs(filter="metrics.acc > 2").columns)[:5] == [
        "run_id", "name", "experiment", "status", "start_time"]


def test_runs_filter_errors() -> None:
    _make_runs()
    with pytest.raises(FilterError, match="at position 14: expected a number") as info:
        nbmlops.runs(filter="metrics.acc > and")
    assert info.value.position == 14
    with pytest.raises(FilterError, match="unknown column 'colour'"):
        nbmlops.runs(filter="colour = 'red'")
    with pytest.raises(FilterError, match="unknown metric 'f1'; known metrics: acc, loss"):
        nbmlops.runs(filter="metrics.f1 > 0.5")
    with pytest.raises(ValidationError, match="max_results"):
        nbmlops.runs(max_results=-1)


def test_filter_is_evaluated_in_sql() -> None:
    """The filter becomes a WHERE clause: the query selects only matching run rows."""
    from sqlalchemy import event

    from nbmlops.store import open_store

    ids = _make_runs()
    store, _ = open_store()
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        frame = nbmlops.runs(filter="metrics.acc > 0.93")
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert list(frame["run_id"]) == [ids["elsewhere"], ids["r2"]]
    search = [q for q in statements if "FROM runs" in q and "latest_metrics" in q
              and "IN (SELECT" in q.upper()]
    assert search, statements


def test_get_run_unknown() -> None:
    with pytest.raises(RunNotFound, match="'f{32}' not found"):
        nbmlops.get_run("f" * 32)
    with pytest.raises(RunNotFound):
        nbmlops.last_run()


def test_last_run_and_repr() -> None:
    with nbmlops.start_run("first"):
        pass
    with nbmlops.start_run("second", params={"p": 1}) as run:
        nbmlops.log_metric("acc", 0.5)
    last = nbmlops.last_run()
    assert last.id == run.id
    assert repr(last) == f"<Run 'second' id={run.id} status=FINISHED>"
    html = last._repr_html_()
    assert run.id in html and "acc" in html and "FINISHED" in html
