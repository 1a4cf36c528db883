"""The Monitoring panel: drift per feature now and over time, live accuracy, alert events.

It reads only the public monitoring API (:func:`nbmlops.monitor` and, where this
version has them, ``monitor_history`` and the alert events) and says so when a part is
not available instead of failing.
"""

from __future__ import annotations

import importlib
import inspect
import math
from html import escape
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import Panel, png_image

if TYPE_CHECKING:
    import pandas as pd

WINDOWS = [("last hour", "1h"), ("last day", "1d"), ("last 7 days", "7d"), ("all traffic", "")]
_SECONDS = {"1h": 3600.0, "1d": 86400.0, "7d": 604800.0}


class MonitoringPanel(Panel):
    """Monitoring of a deployment's model: pick it in ``.deployment`` and ``.window``.

    ``.report`` is the :func:`nbmlops.monitor` report shown; ``.drift`` its per-feature
    table, ``.history`` the stored drift/accuracy over time, ``.rules`` and ``.alerts``
    the alert rules and events (None where this version of nbmlops has no such API).
    """

    title = "Monitoring"

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        self.report: Any = None
        self.drift: pd.DataFrame | None = None
        self.history: pd.DataFrame | None = None
        self.alerts: pd.DataFrame | None = None
        self.rules: pd.DataFrame | None = None
        self._quiet = False
        super().__init__(refresh=refresh, **kwargs)

    def _build(self) -> list[Any]:
        self.deployment = w.Dropdown(options=[], description="model",
                                     layout=w.Layout(width="360px"))
        self.window = w.Dropdown(options=WINDOWS, value="1d", description="window",
                                 layout=w.Layout(width="220px"))
        self.summary = w.HTML()
        self.drift_chart = png_image("640px")
        self.drift_table = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        self.history_chart = png_image("640px")
        self.history_note = w.HTML()
        self.alerts_html = w.HTML()
        self.deployment.observe(self._on_choice, names="value")
        self.window.observe(self._on_choice, names="value")
        return [w.HBox([self.deployment, self.window], layout=w.Layout(flex_flow="row wrap")),
                self.summary, self.drift_chart, self.drift_table, self.history_chart,
                self.history_note, self.alerts_html]

    def _on_choice(self, change: Any) -> None:
        if not self._quiet:
            self.guard(self._load_report)

    def _load(self) -> None:
        from nbmlops.serving.deployments import list_deployments

        deps = list_deployments(include_stopped=True)
        options: dict[str, str] = {}
        for d in deps:
            ref = d.ref if "@" in d.ref or "/" in d.ref else f"{d.model}/{d.version}"
            options.setdefault(ref, f"{d.name} · {ref} ({d.status})")
        previous = self.deployment.value
        self._quiet = True
        try:
            self.deployment.options = [(label, ref) for ref, label in options.items()]
            self.deployment.value = previous if previous in options else \
                (next(iter(options)) if options else None)
        finally:
            self._quiet = False
        self._load_report()

    def _load_report(self) -> None:
        ref = self.deployment.value
        self._clear()
        if not ref:
            self.summary.value = r.message(
                "Nothing to monitor yet: deploy a model (%deploy NAME@production), send it "
                "traffic, then press Refresh.")
            return
        self.report = _monitor(ref, self.window.value)
        self.summary.value = _summary(self.report)
        self.drift = _drift_table(self.report)
        if self.drift is not None and len(self.drift):
            self._show_drift(self.drift)
        self.history = _history(ref)
        self._show_history()
        self.rules, self.alerts = _alerts(ref)
        self.alerts_html.value = _alerts_html(self.rules, self.alerts)

    def _clear(self) -> None:
        self.report = self.drift = self.history = self.alerts = self.rules = None
        self.summary.value = self.drift_table.value = self.history_note.value = ""
        self.alerts_html.value = ""
        self.drift_chart.value = self.history_chart.value = b""

    def _show_drift(self, table: pd.DataFrame) -> None:
        effect = "effect" if "effect" in table.columns else "psi"
        flagged = [str(c) for c, v in zip(table["column"], _verdicts(table), strict=True)
                   if v == "drift"]
        values = [0.0 if _nan(x) else float(x) for x in table[effect]]
        self.drift_chart.value = r.bars_png([str(c) for c in table["column"]], values,
                                            title=f"drift per feature ({effect}); red = drift",
                                            flagged=flagged)
        verdict = "verdict" if "verdict" in table.columns else "drift"
        shown = [c for c in ("column", verdict, "effect", "psi", "test", "statistic",
                             "p_adjusted", "n_current", "note") if c in table.columns]
        self.drift_table.value = _frame_table(table[shown], verdict=True)

    def _show_history(self) -> None:
        h = self.history
        if h is None:
            self.history_note.value = r.message(
                "drift over time needs nbmlops.monitor_history (not in this version)")
            return
        if len(h) < 2:
            self.history_note.value = r.message(
                "drift over time: fewer than two stored snapshots yet (each nbmlops.monitor() "
                "call, e.g. a scheduled check, stores one)")
            return
        series = {k: [math.nan if _nan(v) else float(v) for v in h[k]]
                  for k in ("drift_share", "accuracy") if k in h.columns}
        self.history_chart.value = r.lines_png(list(h["time"]), series,
                                               title="drift share and live accuracy over time")

    def snapshot_html(self) -> str:
        """Return the summary, drift chart and table, history chart and alerts."""
        parts = [r.heading(self.title, str(self.deployment.value or "")), self.message.value,
                 self.summary.value, r.img(self.drift_chart.value, "drift per feature"),
                 self.drift_table.value, r.img(self.history_chart.value, "drift over time"),
                 self.history_note.value, self.alerts_html.value]
        return f"<div class='nbmlops-monitoring-panel'>{''.join(parts)}</div>"


def _monitor(ref: str, window: str) -> Any:
    """Call nbmlops.monitor with the arguments this version accepts (no stored snapshot)."""
    from nbmlops.monitoring.report import monitor

    params = inspect.signature(monitor).parameters
    kwargs: dict[str, Any] = {}
    if window:
        if "window" in params:
            kwargs["window"] = window
        else:
            kwargs["window_s"] = _SECONDS[window]
    if "snapshot" in params:
        kwargs["snapshot"] = False
    return monitor(ref, **kwargs)


def _summary(report: Any) -> str:
    lat = getattr(report, "latency_ms", {}) or {}
    acc = getattr(report, "accuracy", None)
    labelled = getattr(report, "labelled_rows", 0)
    err = getattr(report, "error_rate", None)
    cells = [
        ("requests", f"{report.requests:,}"), ("rows", f"{report.rows:,}"),
        ("latency p50 / p95", " / ".join(f"{lat[k]:.1f} ms" for k in ("p50", "p95") if k in lat)
         or "n/a"),
        ("live accuracy", f"{acc:.3f} ({labelled:,} labelled)" if acc is not None
         else "no feedback yet"),
        ("error rate", "n/a" if err is None else f"{err:.2%}"),
        ("drift reference", str(getattr(report, "reference", None) or "none")),
    ]
    body = "".join(f"<div style='margin-right:22px'><div style='color:{r.MUTED};"
                   f"font-size:11px'>{escape(k)}</div><div style='font-size:15px'>"
                   f"{escape(v)}</div></div>" for k, v in cells)
    notes = "".join(r.message(n, "warn") for n in getattr(report, "notes", []) or [])
    return (f"<div style='{r.FONT};display:flex;flex-wrap:wrap;margin:6px 0'>{body}</div>"
            f"{notes}")


def _drift_table(report: Any) -> pd.DataFrame | None:
    table = getattr(report, "drift_table", None)
    if table is None:
        table = getattr(report, "drift", None)
        table = getattr(table, "table", table)
    return table if table is not None and hasattr(table, "columns") else None


def _verdicts(table: pd.DataFrame) -> list[str]:
    if "verdict" in table.columns:
        return [str(v) for v in table["verdict"]]
    if "drift" in table.columns:
        return ["drift" if bool(v) else "no drift" for v in table["drift"]]
    return [""] * len(table)


def _history(ref: str) -> pd.DataFrame | None:
    try:
        fn = importlib.import_module("nbmlops.monitoring.report").monitor_history
    except AttributeError:
        return None
    frame: pd.DataFrame = fn(ref)
    return frame


def _alerts(ref: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Return (alert rules, alert events) of the model, or None where this version has none."""
    try:
        module = importlib.import_module("nbmlops.monitoring.alerts")
    except ImportError:
        return None, None
    rules_fn, events_fn = getattr(module, "alert_rules", None), getattr(module, "alerts", None)
    rules = rules_fn(ref) if callable(rules_fn) else None
    events = events_fn(ref) if callable(events_fn) else None
    return rules, events


RULE_COLUMNS = ["metric", "op", "threshold", "firing", "last_value", "on_alert"]
EVENT_COLUMNS = ["time", "rule", "value", "threshold", "status", "cleared"]
MAX_EVENTS = 20


def _alerts_html(rules: pd.DataFrame | None, events: pd.DataFrame | None) -> str:
    parts = []
    if rules is not None and len(rules):
        shown = rules[[c for c in RULE_COLUMNS if c in rules.columns]].copy()
        if "firing" in shown.columns:
            shown["firing"] = ["firing" if v else "ok" for v in shown["firing"]]
        parts.append(r.heading("Alert rules") + _frame_table(shown, status="firing"))
    if events is not None and len(events):
        shown = events[[c for c in EVENT_COLUMNS if c in events.columns]].tail(MAX_EVENTS)
        parts.append(r.heading("Alert events", f"latest {len(shown)} of {len(events)}")
                     + _frame_table(shown.iloc[::-1]))
    return "".join(parts)


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _frame_table(frame: pd.DataFrame, *, verdict: bool = False, status: str = "") -> str:
    verdicts = _verdicts(frame) if verdict else []
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        cells = []
        for c, v in rec.items():
            if verdict and c in ("verdict", "drift"):
                cells.append(r.badge(verdicts[i]))
            elif c == status:
                cells.append(r.badge(str(v)))
            else:
                cells.append(escape(r.fmt(v)))
        rows.append(cells)
    marked = [i for i, v in enumerate(verdicts) if v == "drift"]
    if status and status in frame.columns:
        marked += [i for i, v in enumerate(frame[status]) if v == "firing"]
    return r.table([str(c) for c in frame.columns], rows, highlight=marked)
