"""Pure formatting for the widget panels: HTML tables and matplotlib (Agg) PNG charts.

No ipywidgets here: the same HTML and PNG bytes fill the live widgets and the
``text/html`` snapshot each panel adds to its mimebundle (papermill output, nbconvert,
GitHub, untrusted notebooks). Charts are PNG, never inline SVG: JupyterLab's sanitizer
strips ``<svg>`` from untrusted output. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops.tracking.diff_card import lower_is_better

if TYPE_CHECKING:
    import pandas as pd

FONT = "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px"
#: colours work on light and dark JupyterLab themes: theme variables with light fallbacks
#: (for nbconvert/GitHub) and translucent row tints instead of opaque pastel fills
MUTED = "var(--jp-ui-font-color2, #57606a)"
BORDER = "var(--jp-border-color1, #d0d7de)"
RULE = "var(--jp-border-color2, #eaeef2)"
BOX_BORDER = f"1px solid {BORDER}"
STATUS_COLORS = {
    "FINISHED": "#1a7f37", "FAILED": "#cf222e", "KILLED": "#9a6700", "RUNNING": "#0969da",
    "ran": "#1a7f37", "cached": "#0969da", "failed": "#cf222e", "skipped": "#6e7781",
    "running": "#bf8700", "stopped": "#6e7781", "dead": "#cf222e", "starting": "#bf8700",
    "drift": "#cf222e", "ok": "#1a7f37", "no drift": "#1a7f37", "firing": "#cf222e",
}
HIGHLIGHT = "rgba(212, 167, 44, 0.22)"
SELECTED = "rgba(9, 105, 218, 0.15)"
MAX_CELL = 48
#: Okabe-Ito: readable for colour-blind users, and on white and dark themes
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]

HOW_TO_START = """
<div style='{font};border:1px dashed #bbb;border-radius:6px;padding:10px 14px;max-width:760px'>
<b>No runs recorded yet in this store.</b> Track a cell to record your first run:
<pre style='margin:6px 0;padding:6px;background:var(--jp-layout-color2, #f6f8fa);
border-radius:4px'>%load_ext nbmlops

%%track train-rf --params n_estimators --metrics acc
n_estimators = 100
model = RandomForestClassifier(n_estimators=n_estimators).fit(X_train, y_train)
acc = model.score(X_test, y_test)</pre>
or from Python: <code>with nbmlops.start_run("train-rf", params={{...}}):
nbmlops.log_metric("acc", acc)</code>. Then press <b>Refresh</b>.
<div style='color:{muted};margin-top:4px'>Store: {store}</div></div>
"""


# --- small pieces --------------------------------------------------------------------
def fmt(value: Any, width: int = MAX_CELL) -> str:
    """Return a short text form of a cell value (numbers to 4 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    if isinstance(value, datetime) or hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def duration(seconds: Any) -> str:
    """Return a duration such as ``850 ms``, ``12.3 s`` or ``4 min 05 s`` ('' if unknown)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    s = float(seconds)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def badge(text: str, color: str | None = None) -> str:
    """Return a coloured status badge (colour by status name unless given)."""
    color = color or STATUS_COLORS.get(text, STATUS_COLORS.get(text.upper(), MUTED))
    return (f"<span style='color:{color};white-space:nowrap'>● {escape(text)}</span>")


def alias_badges(aliases: Iterable[str]) -> str:
    """Return ``@alias`` pills."""
    return " ".join(
        "<span style='background:rgba(9, 105, 218, 0.15);color:#218bff;border-radius:10px;"
        f"padding:0 7px;font-size:12px;white-space:nowrap'>@{escape(a)}</span>" for a in aliases)


def message(text: str, kind: str = "info") -> str:
    """Return an inline message line: kind is info, error, ok or warn."""
    if not text:
        return ""
    color = {"error": "#cf222e", "ok": "#1a7f37", "warn": "#9a6700"}.get(kind, MUTED)
    icon = {"error": "⚠ ", "ok": "✔ ", "warn": "⚠ "}.get(kind, "")
    return (f"<div style='{FONT};color:{color};margin:2px 0'>{icon}"
            f"{escape(text, quote=False)}</div>")


def heading(text: str, note: str = "") -> str:
    """Return a panel heading with an optional muted note."""
    extra = f" <span style='color:{MUTED};font-weight:normal'>{escape(note)}</span>" if note \
        else ""
    return f"<div style='{FONT};font-size:14px;font-weight:600;margin:2px 0'>" \
           f"{escape(text)}{extra}</div>"


def how_to_start(store: str) -> str:
    """Return the "how to start" card of an empty store, with the %%track example."""
    return HOW_TO_START.format(font=FONT, muted=MUTED, store=escape(store))


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
          highlight: Iterable[int] = (), title: str = "", color: str = HIGHLIGHT,
          wrap: Iterable[int] = (), groups: Sequence[tuple[str, int]] = ()) -> str:
    """Return an inline-styled table; ``rows`` hold already-escaped HTML cells.

    Rows in ``highlight`` get the background ``color``; cells stay on one line except in
    the ``wrap`` columns (long text such as a failure reason); ``groups`` adds a header row
    of (label, column span) above the column names, e.g. params | metrics.
    """
    marked, wrapping = set(highlight), set(wrap)
    th = (f"padding:3px 12px 3px 0;text-align:left;border-bottom:2px solid {BORDER};"
          f"color:{MUTED};font-weight:600;white-space:nowrap")
    td = f"padding:3px 12px 3px 0;border-bottom:1px solid {RULE};vertical-align:top;"
    cell = [td + ("white-space:normal;min-width:240px;max-width:520px" if j in wrapping
                  else "white-space:nowrap") for j in range(len(header))]
    head = "".join(f"<th style='{th}'>{escape(h)}</th>" for h in header)
    top = ""
    if groups:
        gth = (f"padding:2px 12px 0 0;text-align:left;color:{MUTED};font-weight:normal;"
               "font-size:11px;text-transform:uppercase;letter-spacing:0.04em")
        top = "<tr>" + "".join(
            f"<th colspan='{n}' style='{gth}"
            + (f";border-bottom:1px solid {BORDER}" if label else "") + f"'>{escape(label)}</th>"
            for label, n in groups) + "</tr>"
    body = []
    for i, row in enumerate(rows):
        bg = f" style='background:{color}'" if i in marked else ""
        body.append(f"<tr{bg}>" + "".join(
            f"<td style='{cell[j] if j < len(cell) else td}'>{c}</td>"
            for j, c in enumerate(row)) + "</tr>")
    cap = heading(title) if title else ""
    return (f"{cap}<table style='{FONT};border-collapse:collapse'><thead>{top}<tr>{head}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table>")


def short_column(column: str) -> str:
    """Return a column header without its ``params.``/``metrics.`` prefix."""
    return column.split(".", 1)[1] if column.startswith(("params.", "metrics.")) else column


# --- runs ---------------------------------------------------------------------------
HEADERS = {"start_time": "started"}


def runs_table(frame: pd.DataFrame, columns: Sequence[str], selected: Iterable[str] = ()
               ) -> str:
    """Return the page of runs as a table; selected runs are highlighted."""
    chosen = set(selected)
    base = ["name", "status", "experiment", "start_time", "duration"]
    extra = [c for c in columns if c in frame.columns]
    extra = [c for c in extra if c.startswith("metrics.")] + \
        [c for c in extra if not c.startswith("metrics.")]
    shown = [c for c in base if c in frame.columns] + extra
    header = ["run"] + [HEADERS.get(c, short_column(c)) for c in shown]
    n_metrics = sum(c.startswith("metrics.") for c in extra)
    groups = [("", 1 + len(shown) - len(extra)), ("metrics", n_metrics),
              ("params", len(extra) - n_metrics)]
    rows, marked = [], []
    for i, rec in enumerate(frame.to_dict("records")):
        cells = [f"<code title='{escape(str(rec['run_id']))}'>{escape(str(rec['run_id'])[:8])}"
                 "</code>"]
        for c in shown:
            v = rec.get(c)
            if c == "status":
                cells.append(badge(str(v)))
            elif c == "duration":
                cells.append(duration(v))
            elif c.startswith("metrics."):
                cells.append(f"<span style='font-variant-numeric:tabular-nums'>"
                             f"{escape(fmt(v))}</span>")
            else:
                cells.append(escape(fmt(v)))
        rows.append(cells)
        if rec["run_id"] in chosen:
            marked.append(i)
    return table(header, rows, highlight=marked, color=SELECTED,
                 groups=[g for g in groups if g[1]])


def comparison_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return params and metrics of runs side by side (one column per run).

    Rows are ``params.*`` that differ first, then equal params, then metrics; the
    ``differs`` column says which params differ.
    """
    import pandas as pd

    labels = [f"{n} ({i[:6]})" for n, i in zip(frame["name"], frame["run_id"], strict=True)]
    params = [c for c in frame.columns if c.startswith("params.")]
    metrics = [c for c in frame.columns if c.startswith("metrics.")]
    rows: dict[str, list[Any]] = {}
    differs: dict[str, bool] = {}
    for c in params + metrics:
        values = [None if _missing(v) else v for v in frame[c]]
        if c.startswith("params.") and all(v is None for v in values):
            continue
        rows[c] = values
        differs[c] = len({repr(v) for v in values}) > 1
    order = ([c for c in params if c in rows and differs[c]]
             + [c for c in params if c in rows and not differs[c]]
             + [c for c in metrics if c in rows])
    out: pd.DataFrame = pd.DataFrame([rows[c] for c in order], index=order, columns=labels)
    out.insert(0, "differs", [differs[c] and c.startswith("params.") for c in order])
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def comparison_table(comp: pd.DataFrame) -> str:
    """Return the comparison frame as HTML: differing params highlighted, best metric bold.

    The best metric is the highest, or the lowest for losses and errors.
    """
    runs = [c for c in comp.columns if c != "differs"]
    rows, marked = [], []
    for i, (key, rec) in enumerate(comp.iterrows()):
        values = [rec[r] for r in runs]
        nums = [v for v in values if isinstance(v, (int, float)) and not _missing(v)]
        best = None
        if str(key).startswith("metrics.") and len(nums) > 1:
            best = min(nums) if lower_is_better(str(key)) else max(nums)
        cells = [f"<code>{escape(str(key))}</code>"]
        for v in values:
            text = escape(fmt(v))
            cells.append(f"<b>{text}</b>" if best is not None and v == best else text)
        rows.append(cells)
        if bool(rec["differs"]):
            marked.append(i)
    return table(["", *runs], rows, highlight=marked)


# --- charts --------------------------------------------------------------------------
def figure(width: float, height: float) -> Any:
    """Return a matplotlib Figure on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def png(fig: Any) -> bytes:
    """Return the PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def img(data: bytes, alt: str, width: int | None = None) -> str:
    """Return a data-URI ``<img>`` of PNG bytes ('' for no bytes)."""
    if not data:
        return ""
    w = f" width='{width}'" if width else ""
    return (f"<img alt='{escape(alt)}'{w} src='data:image/png;base64,"
            f"{base64.b64encode(data).decode()}'/>")


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=8)


def curves_png(histories: Mapping[str, pd.DataFrame], metric: str) -> bytes:
    """Return a PNG of one metric over steps, one line per run ({label: step/value frame})."""
    series = {k: v for k, v in histories.items() if len(v)}
    if not series:
        return b""
    if all(len(h) == 1 for h in series.values()):  # one value per run: compare as bars
        return bars_png(list(series), [float(h["value"].iloc[-1]) for h in series.values()],
                        title=f"{metric} (one value per run)")
    fig = figure(6.4, 3.0)
    ax = fig.subplots()
    for i, (label, h) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        if len(h) == 1:
            ax.scatter(h["step"], h["value"], color=color, label=label, s=18)
        else:
            ax.plot(h["step"], h["value"], color=color, label=label, linewidth=1.6)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step", fontsize=9)
    ax.set_title(metric, fontsize=10, loc="left")
    _style(ax)
    ax.legend(fontsize=8, frameon=False, loc="best")
    return png(fig)


def parallel_png(frame: pd.DataFrame, params: Sequence[str], metric: str) -> bytes:
    """Return a parallel-coordinates PNG of ``params`` against ``metric`` (colour = metric).

    Each axis is scaled to its own min..max; text params are placed as sorted categories.
    """
    import numpy as np

    cols = [c for c in [*params, metric] if c in frame.columns]
    data = frame[cols].copy()
    if metric not in data.columns or len(cols) < 2:
        return b""
    data = data[data[metric].map(lambda v: not _missing(v))]
    if data.empty:
        return b""
    scaled, ticks = {}, {}
    for c in cols:
        scaled[c], ticks[c] = _axis(data[c])
    fig = figure(max(6.4, 1.7 * len(cols)), 3.4)
    ax = fig.subplots()
    import matplotlib as mpl

    values = data[metric].astype(float).to_numpy()
    norm = mpl.colors.Normalize(vmin=float(values.min()), vmax=float(values.max()))
    cmap = mpl.colormaps["viridis"]
    x = np.arange(len(cols))
    ys = np.vstack([scaled[c] for c in cols]).T
    for row, v in zip(ys, values, strict=True):
        ax.plot(x, row, color=cmap(norm(v)), alpha=0.75, linewidth=1.2)
    for i, c in enumerate(cols):
        ax.axvline(i, color="#8c959f", linewidth=0.8)
        for pos, label in ticks[c]:
            ax.text(i + 0.04, pos, label, fontsize=7, va="center", color="#24292f")
    ax.set_xticks(x, [short_column(c) for c in cols], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.14, 1.05)
    ax.set_xlim(-0.1, len(cols) - 0.6)
    ax.spines[["top", "right", "left"]].set_visible(False)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02,
                 label=short_column(metric))
    return png(fig)


#: a numeric axis with at most this many distinct values labels each of them
MAX_AXIS_LABELS = 8
#: where runs without a value sit on an axis (below its range, labelled "none")
MISSING_AT = -0.1


def _axis(column: pd.Series) -> tuple[Any, list[tuple[float, str]]]:
    """Return (positions in 0..1, tick labels) of one parallel-coordinates axis."""
    import numpy as np

    missing = column.map(_missing).to_numpy(dtype=bool)
    present = column[~missing]
    numeric = present.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    if len(present) and numeric.all():
        v = np.array([np.nan if m else float(x) for x, m in zip(column, missing, strict=True)])
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        pos = (v - lo) / (hi - lo) if hi > lo else np.full(len(v), 0.5)
        distinct = sorted(set(present.astype(float)))
        shown = distinct if len(distinct) <= MAX_AXIS_LABELS else [lo, hi]
        ticks = [((x - lo) / (hi - lo) if hi > lo else 0.5, f"{x:.3g}") for x in shown]
    else:
        text = present.map(str)
        cats = sorted(set(text))
        where = {k: (i / (len(cats) - 1) if len(cats) > 1 else 0.5) for i, k in enumerate(cats)}
        pos = np.array([np.nan if m else where[str(x)] for x, m in zip(column, missing,
                                                                        strict=True)])
        ticks = [(p, fmt(k, 12)) for k, p in where.items()][:12]
    if missing.any():
        pos = np.where(missing, MISSING_AT, pos)
        ticks.append((MISSING_AT, "none"))
    return pos, ticks


def sparkline_png(values: Sequence[float], color: str = PALETTE[0]) -> bytes:
    """Return a tiny line chart PNG (no axes) of a series ('' for fewer than 2 points)."""
    if len(values) < 2:
        return b""
    fig = figure(1.6, 0.35)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.plot(range(len(values)), list(values), color=color, linewidth=1.2)
    ax.fill_between(range(len(values)), list(values), min(values), color=color, alpha=0.15)
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", transparent=True)
    return buf.getvalue()


def bars_png(labels: Sequence[str], values: Sequence[float], *, title: str,
             threshold: float | None = None, flagged: Iterable[str] = ()) -> bytes:
    """Return a horizontal bar chart PNG (flagged bars red), e.g. drift per feature."""
    if not labels:
        return b""
    red = set(flagged)
    fig = figure(5.6, 0.3 * len(labels) + 0.9)
    ax = fig.subplots()
    colors = ["#D55E00" if label in red else "#0072B2" for label in labels]
    bars = ax.barh(list(labels)[::-1], list(values)[::-1], color=colors[::-1])
    ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    ax.margins(x=0.12)
    if threshold is not None:
        ax.axvline(threshold, color="#cf222e", linestyle="--", linewidth=1,
                   label=f"threshold {threshold:g}")
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title(title, fontsize=10, loc="left")
    _style(ax)
    return png(fig)


def lines_png(x: Sequence[Any], series: Mapping[str, Sequence[float]], *, title: str,
              ylabel: str = "", threshold: float | None = None) -> bytes:
    """Return a line chart PNG of several series over a shared x (e.g. drift over time)."""
    if not x or not series:
        return b""
    fig = figure(6.4, 2.8)
    ax = fig.subplots()
    for i, (label, ys) in enumerate(series.items()):
        ax.plot(list(x), list(ys), marker="o", markersize=3, linewidth=1.4,
                color=PALETTE[i % len(PALETTE)], label=label)
    if threshold is not None:
        ax.axhline(threshold, color="#cf222e", linestyle="--", linewidth=1)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    _style(ax)
    fig.autofmt_xdate()
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="best")
    return png(fig)
