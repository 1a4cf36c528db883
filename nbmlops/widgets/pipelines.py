"""The Pipelines panel: recent pipeline runs, each step's status, reason, duration, notebook."""

from __future__ import annotations

import os
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as w

from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import Panel

#: how many recent pipeline executions are listed
LIMIT = 20


class PipelinesPanel(Panel):
    """Recent pipeline executions (``.runs``) and the steps of the one picked.

    Pick one in ``.pipeline_run`` to see its steps (ran / cached / failed / skipped, why,
    how long) with links to the executed notebooks.
    """

    title = "Pipelines"

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        self.runs: list[dict[str, Any]] = []
        self._quiet = False
        super().__init__(refresh=refresh, **kwargs)

    def _build(self) -> list[Any]:
        self.table = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        self.pipeline_run = w.Dropdown(options=[], description="run",
                                       layout=w.Layout(width="420px"))
        self.steps = w.HTML()
        self.pipeline_run.observe(self._on_pick, names="value")
        return [self.table, self.pipeline_run, self.steps]

    def _load(self) -> None:
        try:
            from nbmlops.pipelines.history import recent_pipeline_runs
        except ImportError:
            self.table.value = r.message("pipeline history is not available in this version")
            return
        self.runs = recent_pipeline_runs(LIMIT)
        previous = self.pipeline_run.value
        if previous and previous not in {x["run_id"] for x in self.runs}:
            self.show(f"pipeline run {previous[:8]} is no longer listed (removed)", "warn")
        if not self.runs:
            self.table.value = r.message(
                "No pipeline runs yet. Run one with nbmlops pipeline run pipeline.yaml "
                "(or %pipeline run / nbmlops.run_pipeline), then press Refresh.")
        else:
            self.table.value = _runs_table(self.runs)
        ids = [x["run_id"] for x in self.runs]
        self._quiet = True
        try:
            self.pipeline_run.options = [
                (f"{x['pipeline']} · {_when(x.get('start_time'))} · {x['run_id'][:8]}",
                 x["run_id"]) for x in self.runs]
            self.pipeline_run.value = previous if previous in ids else (ids[0] if ids else None)
        finally:
            self._quiet = False
        self._show_steps()

    def _on_pick(self, change: Any) -> None:
        if not self._quiet:
            self.guard(self._show_steps)

    def _show_steps(self) -> None:
        run = next((x for x in self.runs if x["run_id"] == self.pipeline_run.value), None)
        self.steps.value = "" if run is None else (
            r.heading(f"Steps of {run['pipeline']}", run["run_id"][:8]) + _steps_table(run))

    def snapshot_html(self) -> str:
        """Return the recent runs table and the picked run's steps."""
        return (f"<div class='nbmlops-pipelines-panel'>{r.heading(self.title)}"
                f"{self.message.value}{self.table.value}{self.steps.value}</div>")


def _runs_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for x in runs:
        counts = Counter(s["status"] for s in x["steps"])
        summary = " · ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no steps"
        failed = counts.get("failed", 0) > 0
        rows.append([
            f"<b>{escape(x['pipeline'])}</b>",
            r.badge("failed" if failed else str(x.get("status") or "")),
            escape(_when(x.get("start_time"))), r.duration(x.get("duration")),
            escape(summary), f"<code>{escape(x['run_id'][:8])}</code>",
        ])
    return r.table(["pipeline", "status", "started", "duration", "steps", "run"], rows)


def _steps_table(run: dict[str, Any]) -> str:
    rows = []
    for s in run["steps"]:
        rows.append([
            f"<b>{escape(s['step'])}</b>", r.badge(str(s["status"])),
            escape(r.fmt(s.get("reason") or "", 400)), r.duration(s.get("duration")),
            _notebook_link(s.get("executed_notebook")),
        ])
    return r.table(["step", "status", "reason", "duration", "executed notebook"], rows,
                   wrap=[2])


def _when(iso: Any) -> str:
    """Return an ISO time as ``YYYY-MM-DD HH:MM:SS``."""
    return r.fmt(iso)[:19].replace("T", " ")


def _notebook_link(path: str | None) -> str:
    """Return a link to an executed notebook, relative to the kernel's folder when inside it.

    JupyterLab opens a relative link of an output in a new tab, so the notebook opens in
    place; a path outside the server's folder is shown as text.
    """
    if not path:
        return ""
    p = Path(path)
    try:
        rel = os.path.relpath(p, Path.cwd())
    except ValueError:
        rel = str(p)
    if rel.startswith(".."):
        return f"<code>{escape(str(p))}</code>"
    return f"<a href='{escape(rel)}' target='_blank'>{escape(p.name)}</a>"
