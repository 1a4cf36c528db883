"""Text every interface shows: numbers, timestamps, plain-text tables and one-line messages.

The magics, the CLI and the text forms of cards and reports format through these
functions, so a value or a message reads the same wherever it is printed. Pure: no I/O,
and only the standard library is imported (pandas is only named in annotations).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from nbmlops.pipelines.notebooks import NotebookInfo
    from nbmlops.pipelines.results import StepOutcome
    from nbmlops.pipelines.spec import PipelineSpec

MAX_CELL = 48
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: the columns of a deployment listing, in order (``%deploy --list``, ``nbmlops deployments list``)
DEPLOYMENT_COLUMNS = ("name", "ref", "version", "url", "pid", "status", "runtime", "started_at")


# values ------------------------------------------------------------------------------
def missing(value: Any) -> bool:
    """Return whether ``value`` is None or pandas' missing value of nullable columns (pd.NA)."""
    return value is None or type(value).__name__ == "NAType"


def number(value: Any, empty: str = "") -> str:
    """Return a value as text: floats to 6 significant digits, NaN as nan, None as ``empty``.

    pandas' missing value of nullable columns (``pd.NA``) is ``empty`` too.
    """
    if missing(value):
        return empty
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def threshold(value: Any) -> str:
    """Return a check's value or threshold: ``≥ 0.8 and ≤ 1``, ``between 1 and 2`` or a number."""
    if isinstance(value, dict) and value and set(value) <= {"min", "max"}:
        return " and ".join(f"{'≥' if k == 'min' else '≤'} {number(v)}" for k, v in value.items())
    if isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) for v in value):
        return f"between {number(value[0])} and {number(value[1])}"
    return number(value)


def when(value: float | datetime | None, empty: str = "-", *, zone: bool = False) -> str:
    """Return a UTC time (epoch seconds or a datetime) as ``YYYY-MM-DD HH:MM:SS``.

    ``empty`` is returned when the time is unknown (None or NaN); ``zone=True`` appends
    `` UTC``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return empty
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, tz=timezone.utc)
    elif value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime(TIME_FORMAT) + (" UTC" if zone else "")


# tables ------------------------------------------------------------------------------
def cell(value: Any, width: int = MAX_CELL) -> str:
    """Return one table cell: '' for None, 'nan' for NaN, 6 significant digits, cut to width."""
    if hasattr(value, "strftime") and not isinstance(value, str):
        text = str(value.strftime(TIME_FORMAT))
    else:
        text = number(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render(columns: list[str], rows: list[list[str]]) -> str:
    """Return columns and already-formatted rows as an aligned table with a rule."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def render_frame(frame: pd.DataFrame, columns: list[str] | None = None,
                 width: int = MAX_CELL) -> str:
    """Return a DataFrame (or some of its columns) as an aligned plain-text table."""
    cols = [str(c) for c in (columns if columns is not None else frame.columns)]
    rows = [[cell(frame.at[i, c], width) for c in cols] for i in frame.index]
    return render(cols, rows)


def deployment_row(row: Mapping[str, Any]) -> list[str]:
    """Return a deployment's ``as_dict()`` as table cells in DEPLOYMENT_COLUMNS order."""
    return [when(row["started_at"]) if c == "started_at" else number(row.get(c), "-")
            for c in DEPLOYMENT_COLUMNS]


# messages ----------------------------------------------------------------------------
def failed_step(outcome: StepOutcome) -> str:
    """Return the line naming a failed pipeline step, its error and its executed notebook."""
    kept = f"; executed notebook: {outcome.notebook}" if outcome.notebook else ""
    return f"step {outcome.name} failed: {outcome.error or outcome.reason}{kept}"


def promoted(name: str, alias: str, version: int, *, was: int | None = None,
             forced: bool = False) -> str:
    """Return ``NAME@ALIAS -> version N (was M) [forced]``, the line a promotion prints."""
    before = f" (was {was})" if was is not None and was != version else ""
    return f"{name}@{alias} -> version {version}{before}{' [forced]' if forced else ''}"


def pipeline_valid(spec: PipelineSpec, infos: Mapping[str, NotebookInfo]) -> str:
    """Return what validating a pipeline found: its order, then one line per step."""
    lines = [f"pipeline {spec.name}: {len(spec.steps)} steps, valid ({' → '.join(spec.order)})"]
    for name in spec.order:
        step = spec.steps[name]
        needs = f" (needs {', '.join(step.needs)})" if step.needs else ""
        lines.append(f"  {name}: {step.notebook.name}{needs}, {len(infos[name].cells)} code cells")
    return "\n".join(lines)
