"""The HTML card of a run diff (pure formatting: tables and a coloured unified diff, no SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops._format import number

if TYPE_CHECKING:
    from nbmlops.tracking.diff import RunDiff

_STYLE = (
    "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;"
    "border:1px solid var(--jp-border-color1, #ccc);"
    "border-radius:6px;padding:8px 12px;max-width:1000px"
)
_TD = ("padding:2px 10px 2px 0;vertical-align:top;"
       "border-bottom:1px solid var(--jp-border-color2, #eee)")
#: theme variables with light fallbacks and translucent tints: readable on dark themes too
_MUTED = "var(--jp-ui-font-color2, #57606a)"
_TH = f"padding:2px 10px 2px 0;text-align:left;color:{_MUTED};font-weight:normal"
ADDED, REMOVED, CHANGED = ("rgba(26, 127, 55, 0.18)", "rgba(207, 34, 46, 0.16)",
                           "rgba(212, 167, 44, 0.22)")
_KIND_BG = {"added": ADDED, "removed": REMOVED, "changed": CHANGED}
_LINE_BG = {"+": ADDED, "-": REMOVED, "@": "rgba(9, 105, 218, 0.15)"}
#: longest code diff shown inline (the full text is in RunDiff.code / to_dict())
MAX_DIFF_LINES = 400


def fmt(value: Any) -> str:
    """Return a short text form of a param or metric value (None as an em dash)."""
    return number(value, "—")


def table(header: list[str], rows: Sequence[tuple[list[str], str | None]]) -> str:
    """Return an inline-styled HTML table; each row is (escaped cells, background or None)."""
    head = "".join(f"<th style='{_TH}'>{escape(h)}</th>" for h in header)
    body = "".join(
        (f"<tr style='background:{bg}'>" if bg else "<tr>")
        + "".join(f"<td style='{_TD}'>{c}</td>" for c in cells) + "</tr>"
        for cells, bg in rows
    )
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"


#: metric name parts meaning "smaller is better" (loss, error, latency…)
LOWER_IS_BETTER = ("loss", "error", "err", "mse", "mae", "rmse", "mape", "latency", "time",
                   "duration", "perplexity")


def lower_is_better(metric: str) -> bool:
    """Return whether a metric's name says smaller is better (loss, error, mse, latency…)."""
    name = metric.split(".", 1)[-1].lower()
    return any(word in name for word in LOWER_IS_BETTER)


def _delta(d: float | None, key: str) -> str:
    """Return b − a coloured green when it is an improvement, red when it is worse."""
    if d is None:
        return ""
    better = -d if lower_is_better(key) else d
    color = "#1a7f37" if better > 0 else "#cf222e" if better < 0 else _MUTED
    return f"<span style='color:{color}'>{d:+.4g}</span>"


def code_html(diff: str) -> str:
    """Return a unified diff as a <pre> with added/removed lines coloured."""
    lines = diff.splitlines()
    shown = lines[:MAX_DIFF_LINES]
    out = []
    for line in shown:
        bg = None if line.startswith(("+++", "---")) else _LINE_BG.get(line[:1])
        style = f" style='background:{bg}'" if bg else ""
        out.append(f"<span{style}>{escape(line)}</span>")
    if len(lines) > len(shown):
        out.append(f"<i>… {len(lines) - len(shown)} more lines</i>")
    return ("<pre style='font-size:12px;line-height:1.35;margin:2px 0;padding:4px;"
            "border:1px solid var(--jp-border-color2, #eee);overflow:auto;max-height:420px'>"
            + "\n".join(out) + "</pre>")


def _section(title: str, body: str) -> str:
    return (f"<div style='margin-top:8px'><div style='color:{_MUTED};font-weight:bold'>"
            f"{escape(title)}</div>{body}</div>")


def _none(text: str) -> str:
    return f"<i style='color:{_MUTED}'>{escape(text)}</i>"


def diff_card(d: RunDiff) -> str:
    """Return the HTML of a run diff: params, metrics, code, data, environment, provenance."""
    head = (f"<b>{escape(d.a_name)}</b> <code>{d.a[:8]}</code> → "
            f"<b>{escape(d.b_name)}</b> <code>{d.b[:8]}</code>")
    if d.empty:
        note = "" if all(d.environment.captured) else f" ({_env_html(d)})"
        return (f"<div class='nbmlops-run-diff' style='{_STYLE}'>{head} · no differences"
                f"{note}</div>")
    sections = [
        _section(f"Params ({len(d.params)} differ, {d.same_params} same)", table(
            ["param", "a", "b"],
            [([f"<code>{escape(c.key)}</code>", escape(fmt(c.a)), escape(fmt(c.b))],
              _KIND_BG[c.kind]) for c in d.params]) if d.params else _none("same params")),
        _section("Metrics", table(
            ["metric", "a", "b", "b − a"],
            [([f"<code>{escape(m.key)}</code>", escape(fmt(m.a)), escape(fmt(m.b)),
               _delta(m.delta, m.key)], None) for m in d.metrics]) if d.metrics
            else _none("same metrics")),
        _section(f"Code ({d.code_kind})" if d.code_kind else "Code",
                 code_html(d.code) if d.code else _none(
                     "same code" if d.code_kind else "no source recorded")),
        _section("Input data", _data_html(d) if d.data else _none("same input datasets")),
        _section("Environment", _env_html(d)),
        _section("Provenance", table(
            ["field", "a", "b"],
            [([escape(c.key), escape(fmt(c.a)), escape(fmt(c.b))], _KIND_BG[c.kind])
             for c in d.provenance]) if d.provenance else _none("same provenance")),
    ]
    return f"<div class='nbmlops-run-diff' style='{_STYLE}'>{head}{''.join(sections)}</div>"


def _data_html(d: RunDiff) -> str:
    rows = []
    for c in d.data:
        notes = []
        if c.columns_added:
            notes.append("+ " + ", ".join(c.columns_added))
        if c.columns_removed:
            notes.append("− " + ", ".join(c.columns_removed))
        notes += [f"{k}: {x} → {y}" for k, (x, y) in c.dtypes_changed.items()]
        rows.append(([
            f"<code>{escape(c.name)}</code>", escape(c.kind),
            escape(str(c.a_shape) if c.a_shape else "—"),
            escape(str(c.b_shape) if c.b_shape else "—"),
            escape("; ".join(notes) or ("content" if c.kind == "changed" else "")),
        ], _KIND_BG[c.kind]))
    return table(["dataset", "change", "a shape", "b shape", "columns"], rows)


def _env_html(d: RunDiff) -> str:
    env = d.environment
    if not all(env.captured):
        missing = [n for n, ok in zip(("a", "b"), env.captured, strict=True) if not ok]
        return _none(f"environment not captured for run {' and '.join(missing)}")
    if env.empty:
        return _none("same environment")
    rows: list[tuple[list[str], str | None]] = []
    if env.python:
        rows.append((["python", escape(fmt(env.python[0])), escape(fmt(env.python[1]))],
                     _KIND_BG["changed"]))
    rows += [([escape(k), escape(a), escape(b)], _KIND_BG["changed"])
             for k, (a, b) in env.changed.items()]
    rows += [([escape(k), "—", escape(v)], _KIND_BG["added"]) for k, v in env.added.items()]
    rows += [([escape(k), escape(v), "—"], _KIND_BG["removed"]) for k, v in env.removed.items()]
    return table(["package", "a", "b"], rows)
