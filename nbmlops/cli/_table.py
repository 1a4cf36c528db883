"""Plain-text tables and timestamps for CLI output (shared by every command group)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_CELL = 48


def cell(value: Any, width: int = MAX_CELL) -> str:
    """Return one table cell: '' for None, 'nan' for NaN, 6 significant digits, cut to width."""
    if value is None:
        text = ""
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else f"{value:.6g}"
    elif hasattr(value, "strftime"):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def when(epoch: float | None) -> str:
    """Return a UTC epoch time as ``YYYY-MM-DD HH:MM:SS`` ('-' when unknown)."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


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
