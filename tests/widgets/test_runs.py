"""The Runs panel, driven through its controls on a real SQLite store (no kernel needed)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

import nbmlops
from nbmlops.errors import ValidationError
from nbmlops.widgets import RunsPanel
from nbmlops.widgets._render import HIGHLIGHT
from tests.widgets.conftest import bulk_runs


def test_empty_store_says_how_to_start() -> None:
    panel = RunsPanel()
    assert "No runs recorded yet" in panel.table.value and "%%track" in panel.table.value
    assert panel.message.value == "" and len(panel.frame) == 0
    assert "%%track" in panel._repr_mimebundle_()["text/html"]


def test_page_table_and_columns(runs3: list[str]) -> None:
    panel = RunsPanel()
    assert list(panel.frame["run_id"]) == runs3[::-1]  # newest first
    assert "run-2" in panel.table.value and "metrics.acc" not in panel.table.value
    assert "runs 1–3 of 3" in panel.page_label.value
    assert set(panel.columns.options) == {"metrics.acc", "metrics.loss", "params.model",
                                          "params.n", "params.seed"}
    panel.columns.value = ("metrics.acc",)
    assert panel.shown_columns == ["metrics.acc"]
    assert ">seed<" not in panel.table.value and ">acc<" in panel.table.value
    panel.refresh()  # the choice survives a refresh
    assert panel.shown_columns == ["metrics.acc"]


def test_filter_sort_and_experiment(runs3: list[str]) -> None:
    with nbmlops.start_run("other", experiment="exp2", capture=False):
        nbmlops.log_metric("acc", 0.99)
    panel = RunsPanel()
    panel.filter.value = "params.model = 'rf' and metrics.acc > 0.6"
    assert list(panel.frame["run_id"]) == [runs3[1]]
    assert panel.filter_message.value == ""
    panel.filter.value = ""
    panel.sort.value = "metrics.acc ASC"
    assert list(panel.frame["name"])[:3] == ["run-0", "run-1", "run-2"]
    panel.experiment.value = "exp2"
    assert list(panel.frame["name"]) == ["other"]
    assert ("exp2", "exp2") in panel.experiment.options


@pytest.mark.parametrize("bad, says", [
    ("metrics.acc >", "expected a value"),
    ("metrics.nope > 1", "unknown metric"),
    ("colour = 'red'", "unknown column"),
])
def test_bad_filter_is_shown_inline(runs3: list[str], bad: str, says: str) -> None:
    panel = RunsPanel()
    before = panel.frame.copy()
    panel.filter.value = bad  # no exception
    assert says in panel.filter_message.value and bad.split()[0] in panel.filter_message.value
    assert panel.frame.equals(before)  # still the previous results
    assert nbmlops.runs_page().total == 3  # the store is unchanged
    panel.filter.value = "metrics.acc > 0"
    assert panel.filter_message.value == ""


def test_selection_compares_and_diffs(runs3: list[str]) -> None:
    panel = RunsPanel()
    panel.selected = (runs3[0], runs3[2])
    comp = panel.comparison
    # params that differ come first and are flagged; equal ones after; metrics last
    assert list(comp.index) == ["params.model", "params.n", "params.seed", "metrics.acc",
                                "metrics.loss"]
    assert list(comp["differs"]) == [True, True, False, False, False]
    assert HIGHLIGHT in panel.comparison_html.value
    assert panel.curve_metric.value == "acc"
    assert bytes(panel.curves.value).startswith(b"\x89PNG")
    assert panel.diff is not None and (panel.diff.a, panel.diff.b) == (runs3[0], runs3[2])
    assert "fit(n=30)" in panel.diff_html.value
    panel.curve_metric.value = "loss"
    assert bytes(panel.curves.value).startswith(b"\x89PNG")
    # the SelectMultiple drives the same selection
    panel.picker.value = (runs3[1],)
    assert panel.selected == (runs3[1],) and panel.diff is None
    html = panel._repr_mimebundle_()["text/html"]
    assert "data:image/png;base64," in html and "<svg" not in html


def test_selected_must_be_run_ids(runs3: list[str]) -> None:
    panel = RunsPanel()
    with pytest.raises(Exception, match="selected must hold run ids"):
        panel.selected = (42,)  # type: ignore[assignment]
    assert panel.selected == ()


def test_parallel_coordinates(runs3: list[str]) -> None:
    panel = RunsPanel()
    assert set(panel.parallel_params.value) == {"params.model", "params.n"}  # the varying ones
    assert panel.parallel_metric.value == "metrics.acc"
    assert bytes(panel.parallel.value) == b""  # drawn when its tab is shown, not per refresh
    panel.sections.selected_index = 1
    assert bytes(panel.parallel.value).startswith(b"\x89PNG")
    panel.parallel_params.value = ()
    assert bytes(panel.parallel.value) == b"" and "Pick one or more params" in \
        panel.parallel_note.value
    panel.refresh()  # an empty choice is kept
    assert panel.parallel_params.value == ()


def test_snapshot_draws_the_parallel_plot(runs3: list[str]) -> None:
    html = RunsPanel()._repr_mimebundle_()["text/html"]
    assert "Parallel coordinates" in html and "data:image/png;base64," in html


def test_run_removed_while_open(runs3: list[str]) -> None:
    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    panel = RunsPanel()
    panel.selected = (runs3[0], runs3[1])
    store, _ = open_store()
    with store.engine.begin() as conn:  # another tool deletes the run
        for table in reversed(s.metadata.sorted_tables):
            if "run_id" in table.c:
                conn.execute(table.delete().where(table.c.run_id == runs3[0]))
        conn.execute(s.runs.delete().where(s.runs.c.id == runs3[0]))
    panel.refresh_button.click()
    assert runs3[0][:8] in panel.message.value and "no longer exists" in panel.message.value
    assert panel.selected == (runs3[1],) and len(panel.frame) == 2


def test_newer_store_schema_is_shown_inline(runs3: list[str]) -> None:
    from nbmlops import store as store_module
    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    sql, _ = open_store()
    with sql.engine.begin() as conn:
        conn.execute(s.meta.update().where(s.meta.c.key == "schema_version")
                     .values(value=str(s.SCHEMA_VERSION + 1)))
    store_module.reset()
    d = nbmlops.dashboard()  # no exception: every panel says it inline
    for panel in d.panels:
        assert "newer nbmlops" in panel.message_text, (panel.title, panel.message_text)
        assert "upgrade nbmlops" in panel.message_text
    assert "upgrade nbmlops" in d._repr_mimebundle_()["text/html"]


@pytest.mark.parametrize("size", [0, 5000, "10", 2.5])
def test_bad_page_size(size: Any) -> None:
    with pytest.raises(ValidationError, match="page_size must be an integer from 1 to 1000"):
        RunsPanel(page_size=size)


@pytest.mark.slow
def test_ten_thousand_runs_read_one_page() -> None:
    bulk_runs(10_000)
    from nbmlops.store import open_store

    store, _ = open_store()
    statements: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", spy)
    try:
        panel = RunsPanel(page_size=50)
        assert len(panel.frame) == 50 and panel.page is not None
        assert panel.page.total == 10_000 and "of 10,000" in panel.page_label.value
        statements.clear()
        panel.refresh_button.click()
        # one page: a LIMIT query and the values of the page's 50 runs only
        searches = [q for q in statements if "LIMIT" in q.upper() and "FROM runs" in q]
        assert len(searches) == 1
        values = [q for q in statements if "run_id IN" in q]
        assert values and all(q.count("?") <= 50 for q in values)
        statements.clear()
        panel.filter.value = "metrics.acc >= 0.99 and params.depth = 4"
        assert 0 < len(panel.frame) <= 50 and set(panel.frame["metrics.acc"]) == {0.99}
        assert all(q.count("?") <= 60 for q in statements)  # filtered in SQL, not in Python
        panel.filter.value = ""
        panel.next_button.click()
        assert panel.page.offset == 50 and "runs 51–100" in panel.page_label.value
        panel.prev_button.click()
        assert panel.page.offset == 0 and panel.prev_button.disabled
    finally:
        event.remove(store.engine, "before_cursor_execute", spy)
