"""Progress while a pipeline runs (terminal or notebook) and the final summary table."""

from __future__ import annotations

import html
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from nbmlops.pipelines.results import PipelineRun, StepOutcome
    from nbmlops.pipelines.spec import PipelineSpec

_SYMBOL = {"ran": "✓", "cached": "=", "failed": "✗", "skipped": "-"}


class BaseProgress:
    """Receives pipeline events; every method may be called from worker threads."""

    def start(self, spec: PipelineSpec, run_id: str) -> None:
        """Pipeline execution begins."""

    def step_started(self, step: str, reason: str, attempt: int) -> None:
        """Show that a step was handed to the executor (``attempt`` counts from 1)."""

    def cell(self, step: str, number: int, total: int) -> None:
        """Show that a step finished cell ``number`` of ``total`` (local executor only)."""

    def retrying(self, step: str, attempt: int, ename: str, evalue: str) -> None:
        """Attempt ``attempt`` of a step failed and it will run again."""

    def step_done(self, outcome: StepOutcome) -> None:
        """Show that a step reached its final status."""

    def finish(self, result: PipelineRun) -> None:
        """Show that the pipeline ended."""


class TerminalProgress(BaseProgress):
    """One line per step event; a live cell counter when the stream is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, summary: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.show_summary = summary
        self._lock = threading.Lock()
        self._cells: dict[str, str] = {}

    def _line(self, text: str) -> None:
        with self._lock:
            prefix = "\r\x1b[2K" if self.live else ""
            self.stream.write(f"{prefix}{text}\n")
            self.stream.flush()

    def start(self, spec: PipelineSpec, run_id: str) -> None:
        """Print the pipeline header."""
        self._line(f"pipeline {spec.name} ({len(spec.steps)} steps) run {run_id}")

    def step_started(self, step: str, reason: str, attempt: int) -> None:
        """Print that a step starts and why."""
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._line(f"▶ {step}{again}: {reason}")

    def cell(self, step: str, number: int, total: int) -> None:
        """Redraw the live cell counter (terminals only)."""
        if not self.live:
            return
        with self._lock:
            self._cells[step] = f"{step} {number}/{total}"
            self.stream.write("\r\x1b[2K  cells: " + "  ".join(self._cells.values()))
            self.stream.flush()

    def retrying(self, step: str, attempt: int, ename: str, evalue: str) -> None:
        """Print a failed attempt that will be retried."""
        self._line(f"↻ {step} attempt {attempt} failed ({ename}: {evalue}); retrying")

    def step_done(self, outcome: StepOutcome) -> None:
        """Print the step's final status."""
        self._cells.pop(outcome.name, None)
        took = f" in {outcome.duration:.1f}s" if outcome.status == "ran" else ""
        self._line(f"{_SYMBOL[outcome.status]} {outcome.name} {outcome.status}{took}")

    def finish(self, result: PipelineRun) -> None:
        """Print the summary table."""
        if self.show_summary:
            self._line(summary_text(result))


class NotebookProgress(BaseProgress):
    """An HTML table under the cell, updated in place as steps and cells progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[str]] = {}
        self._handle: Any = None

    def _render(self) -> None:
        from IPython.display import HTML

        body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v[0])}</td>"
                       f"<td>{html.escape(v[1])}</td></tr>" for k, v in self._rows.items())
        table = HTML(f"<table><tr><th>step</th><th>state</th><th>why</th></tr>{body}</table>")
        if self._handle is None:
            from IPython.display import display

            self._handle = display(table, display_id=True)
        else:
            self._handle.update(table)

    def _set(self, step: str, state: str, why: str | None = None) -> None:
        with self._lock:
            old = self._rows.get(step, ["", ""])
            self._rows[step] = [state, old[1] if why is None else why]
            self._render()

    def start(self, spec: PipelineSpec, run_id: str) -> None:
        """Show every step as waiting."""
        with self._lock:
            self._rows = {name: ["waiting", ""] for name in spec.order}
            self._render()

    def step_started(self, step: str, reason: str, attempt: int) -> None:
        """Show the step as running."""
        self._set(step, "running" + (f" (attempt {attempt})" if attempt > 1 else ""), reason)

    def cell(self, step: str, number: int, total: int) -> None:
        """Show the cell counter."""
        self._set(step, f"running: cell {number}/{total}")

    def step_done(self, outcome: StepOutcome) -> None:
        """Show the final status."""
        self._set(outcome.name, outcome.status, outcome.reason)


def make_progress(progress: BaseProgress | bool | None) -> BaseProgress:
    """Return ``progress``, a no-op for False, or the display that suits where we run."""
    if isinstance(progress, BaseProgress):
        return progress
    if progress is False:
        return BaseProgress()
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return NotebookProgress()
    return TerminalProgress()


def summary_rows(result: PipelineRun) -> list[tuple[str, str, str, str, str]]:
    """Return (step, status, why, duration, run id) for each step."""
    rows = []
    for o in result.steps.values():
        took = f"{o.duration:.1f}s" if o.duration is not None else ""
        rows.append((o.name, o.status, o.reason, took, o.run_id or ""))
    return rows


def short_reason(reason: str, width: int = 70) -> str:
    """Return ``reason`` fit for a table column: long paths shortened, the error kept whole.

    A failure reads ``step 'prep' failed in /a/long/path/prep.ipynb cell 3: NameError: …``;
    cutting it at ``width`` would keep the path and drop why it failed, so only the paths
    (to ``…/prep.ipynb``) are shortened, and the error is never cut.
    """
    if len(reason) <= width:
        return reason
    return _FAILED_IN.sub(lambda m: m.group(1) + "…" + m.group(2), reason, count=1)


#: the notebook path of a step failure ("failed in /x/y/prep.ipynb"), up to its last part
_FAILED_IN = re.compile(r"(failed in )\S*([/\\][^\s/\\]+?)(?= cell \d+:|:)")


def summary_text(result: PipelineRun) -> str:
    """Return the summary as an aligned text table."""
    head = ("step", "status", "why", "duration", "run id")
    rows = [head, *[(a, b, short_reason(c), d, e) for a, b, c, d, e in summary_rows(result)]]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    state = "ok" if result.ok else "FAILED"
    lines.append(f"pipeline {result.name} {state} in {result.duration:.1f}s (run {result.run_id})")
    return "\n".join(lines)


def summary_html(result: PipelineRun) -> str:
    """Return the summary as an HTML table."""
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
        for row in summary_rows(result)
    )
    head = "".join(f"<th>{h}</th>" for h in ("step", "status", "why", "duration", "run id"))
    state = "ok" if result.ok else "failed"
    return (f"<div><b>pipeline {html.escape(result.name)}</b> {state} in "
            f"{result.duration:.1f}s<table><tr>{head}</tr>{cells}</table></div>")
