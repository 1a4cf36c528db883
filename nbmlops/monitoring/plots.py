"""Monitoring plots as data-URI PNGs (matplotlib's Agg backend; never inline SVG).

matplotlib is imported here only, when a report is displayed. It comes with the ``ui``
extra, not with nbmlops itself: without it a report shows its tables and a one-line note
instead of plots (the README's main job runs on a plain ``pip install .``).
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.monitoring.drift import DriftReport

MAX_PLOTS = 12
NO_PLOTS = ("<p><i>plots need matplotlib: pip install 'nbmlops[ui]'</i></p>")
_SHOWN = ["column", "kind", "test", "statistic", "p_adjusted", "psi", "effect", "verdict",
          "n_reference", "n_current", "missing_current", "new_categories", "note"]


def _can_plot() -> bool:
    """Return whether matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(nrows: int, ncols: int, width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # Figure + Agg canvas: no pyplot global state

    fig = Figure(figsize=(width, height), dpi=80)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _png(fig: Any, alt: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'/>"


def histograms_png(report: DriftReport) -> str:
    """Return an <img> of reference-vs-current histograms (drifted columns first)."""
    verdict = dict(zip(report.table["column"], report.table["verdict"], strict=True))
    names = sorted(report.histograms, key=lambda c: (verdict.get(c) != "drift", c))[:MAX_PLOTS]
    if not names:
        return ""
    if not _can_plot():
        return NO_PLOTS
    ncols = min(4, len(names))
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = _figure(nrows, ncols, 3.2 * ncols, 2.3 * nrows)
    for ax, name in zip(axes.flat, names, strict=False):
        h = report.histograms[name]
        if h["kind"] == "numeric":
            edges = h["edges"]
            ax.stairs(h["reference"], edges, fill=True, alpha=0.4, label="reference")
            ax.stairs(h["current"], edges, linewidth=1.5, label="current")
        else:
            x = range(len(h["categories"]))
            ax.bar([i - 0.2 for i in x], h["reference"], width=0.4, label="reference")
            ax.bar([i + 0.2 for i in x], h["current"], width=0.4, label="current")
            ax.set_xticks(list(x), [str(c)[:8] for c in h["categories"]], fontsize=7,
                          rotation=45)
        ax.set_title(f"{name}{' (drift)' if verdict.get(name) == 'drift' else ''}",
                     fontsize=9, color="crimson" if verdict.get(name) == "drift" else "black")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    return _png(fig, "reference vs current histograms")


def history_png(history: pd.DataFrame) -> str:
    """Return an <img> of drift share (and accuracy, if any) per time bucket."""
    if history is None or history.empty or history["drift_share"].isna().all():
        return ""
    if not _can_plot():
        return NO_PLOTS
    fig, axes = _figure(1, 1, 7, 2.4)
    ax = axes[0][0]
    ax.plot(history["time"], history["drift_share"], marker="o", label="drift share")
    if "accuracy" in history and history["accuracy"].notna().any():
        ax.plot(history["time"], history["accuracy"], marker="s", label="accuracy")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.autofmt_xdate()
    return _png(fig, "drift over time")


def drift_table_html(report: DriftReport) -> str:
    """Return the report's table as HTML (the columns a reader needs)."""
    html: str = report.table[_SHOWN].to_html(index=False, na_rep="",
                                             float_format=lambda v: f"{v:.4g}")
    return html


def drift_html(report: DriftReport) -> str:
    """Return the HTML of a DriftReport: summary, histograms, table, thresholds."""
    share = report.share_drifted
    share_s = "n/a" if share is None else f"{share:.0%}"
    th = ", ".join(f"{k}={v}" for k, v in report.thresholds.items())
    drifted = ", ".join(report.drifted_columns) or "none"
    return (f"<div class='nbmlops-drift'><b>Drift</b>: {escape(drifted)} "
            f"(share {share_s}; {report.n_current} current vs {report.n_reference} reference "
            f"rows)<div>{histograms_png(report)}</div>{drift_table_html(report)}"
            f"<small>thresholds: {escape(th)}</small></div>")
