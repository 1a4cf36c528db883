"""The HTML summary card of a run (pure formatting, no widgets)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops._format import number

if TYPE_CHECKING:
    from nbmlops.tracking.run import Run

_STYLE = (
    "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;border:1px solid #ccc;"
    "border-radius:6px;padding:8px 12px;max-width:900px"
)
_COLORS = {"FINISHED": "#1a7f37", "FAILED": "#cf222e", "KILLED": "#9a6700", "RUNNING": "#0969da"}


def _table(rows: list[tuple[str, Any]]) -> str:
    if not rows:
        return "<i>none</i>"
    body = "".join(
        f"<tr><td style='padding:1px 8px 1px 0'><code>{escape(str(k))}</code></td>"
        f"<td style='padding:1px 0'>{escape(number(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table style='border-collapse:collapse'>{body}</table>"


def run_card(run: Run) -> str:
    """Return the HTML card of a run: id, status, params, metrics, models, data, provenance."""
    rec = run.record
    color = _COLORS.get(rec.status.value, "#555")
    duration = f"{rec.duration:.2f} s" if rec.duration is not None else "running"
    models = [(a.name, f"{a.media_type}, {a.size:,} bytes, sha256 {a.sha256[:12]}")
              for a in run.artifacts]
    data = [(d.name, f"{d.kind} {tuple(d.shape)} · {d.fingerprint[:12]}") for d in run.datasets]
    prov = run.provenance
    prov_html = escape(prov.status)
    if prov.reasons:
        prov_html += "<ul style='margin:2px 0'>" + "".join(
            f"<li>{escape(r)}</li>" for r in prov.reasons) + "</ul>"
    head = (
        f"<b>{escape(rec.name)}</b> <span style='color:{color}'>● {rec.status.value}</span> "
        f"· {escape(rec.experiment)} · {duration} · <code>{rec.id}</code>"
    )
    if rec.git_commit:
        head += f" · git {rec.git_commit[:8]}{' (dirty)' if rec.git_dirty else ''}"
    sections = [
        ("Params", _table(list(run.params.items()))),
        ("Metrics", _table(list(run.metrics.items()))),
        ("Artifacts", _table(models)),
        ("Data read", _table(data)),
        ("Provenance", prov_html),
    ]
    if rec.error:
        last = rec.error.strip().splitlines()[-1] if rec.error.strip() else rec.error
        sections.append(("Error", f"<code>{escape(last)}</code>"))
    body = "".join(
        f"<div style='margin-top:6px'><div style='color:#57606a'>{t}</div>{h}</div>"
        for t, h in sections
    )
    return f"<div class='nbmlops-run-card' style='{_STYLE}'>{head}{body}</div>"
