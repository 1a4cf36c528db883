"""The Deployments panel: running model servers, health, request rate, latency; stop, roll back."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import ipywidgets as w

from nbmlops.errors import NbmlopsError
from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import Panel

#: the traffic window of the rate and the sparkline
WINDOW_S = 900.0
BUCKETS = 15


class DeploymentsPanel(Panel):
    """Running deployments with their model version, URL, health, request rate and latency.

    Pick one in ``.deployment``; ``.stop_button`` stops it and ``.rollback_button`` moves
    the alias it follows back to the previous version (the server hot-swaps), with
    ``.reason`` in the audit log. ``.rows`` holds what the table shows.
    """

    title = "Deployments"

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        self.rows: list[dict[str, Any]] = []
        self._quiet = False
        super().__init__(refresh=refresh, **kwargs)

    def _build(self) -> list[Any]:
        self.table = w.HTML()
        self.deployment = w.Dropdown(options=[], description="deployment",
                                     layout=w.Layout(width="320px"))
        self.reason = w.Text(description="reason", placeholder="why (for a roll back)",
                             layout=w.Layout(width="min(100%, 380px)"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    layout=w.Layout(width="auto"))
        self.rollback_button = w.Button(description="Roll back", icon="undo",
                                        button_style="warning", layout=w.Layout(width="auto"))
        self.gate_html = w.HTML()
        self.deployment.observe(self._on_deployment, names="value")
        self.stop_button.on_click(lambda _: self.stop())
        self.rollback_button.on_click(lambda _: self.rollback())
        actions = w.VBox([
            w.HBox([self.deployment, self.reason], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([self.stop_button, self.rollback_button], layout=w.Layout(gap="8px")),
            self.gate_html], layout=w.Layout(border=r.BOX_BORDER, padding="6px",
                                             margin="6px 0"))
        return [self.table, actions]

    def _load(self) -> None:
        from nbmlops.serving.deployments import list_deployments

        previous = self.deployment.value
        deps = list_deployments(include_stopped=True)
        running = [d for d in deps if d.status in ("starting", "running")]
        if previous and previous not in {d.name for d in running}:
            gone = next((d for d in deps if d.name == previous), None)
            state = gone.status if gone is not None else "removed"
            self.show(f"deployment {previous!r} is no longer running ({state})", "warn")
        self.rows = [self._row(d) for d in running]
        stopped = len(deps) - len(running)
        note = r.message(f"{stopped} stopped deployment(s) not shown") if stopped else ""
        if not running:
            self.table.value = r.message(
                "No running deployments. Serve a registered version with "
                "%deploy NAME@production (or nbmlops.deploy), then press Refresh.") + note
        else:
            self.table.value = _table(self.rows) + note
        names = [d.name for d in running]
        self._quiet = True
        try:
            self.deployment.options = names
            self.deployment.value = previous if previous in names else \
                (names[0] if names else None)
        finally:
            self._quiet = False
        self._update_gate()

    def _row(self, dep: Any) -> dict[str, Any]:
        from nbmlops.serving.traffic import request_timeline

        health = dep.health(timeout=1.0)
        timeline = request_timeline(dep.model, window_s=WINDOW_S, buckets=BUCKETS)
        latency = [v for v in timeline["latency_p50_ms"] if not math.isnan(v)]
        requests = int(timeline["requests"].sum())
        return {
            "name": dep.name, "ref": dep.ref, "version": health.get("version") or dep.version,
            "status": dep.status, "url": dep.url, "health": health,
            "rate_per_min": requests / (WINDOW_S / 60), "requests": requests,
            "latency_p50_ms": latency[-1] if latency else None,
            "sparkline": r.sparkline_png(latency),
            "requests_sparkline": r.sparkline_png([float(x) for x in timeline["requests"]],
                                                  color=r.PALETTE[2]),
        }

    def _on_deployment(self, change: Any) -> None:
        if not self._quiet:
            self._update_gate()

    def _selected_row(self) -> dict[str, Any] | None:
        return next((x for x in self.rows if x["name"] == self.deployment.value), None)

    def _update_gate(self) -> None:
        row = self._selected_row()
        self.stop_button.disabled = row is None
        follows = row is not None and "@" in row["ref"]
        self.rollback_button.disabled = not follows
        note = ""
        if row is not None and not follows:
            note = (f"Roll back is off: {row['name']} serves the pinned version {row['ref']}, "
                    "not an alias.")
        self.gate_html.value = r.message(note, "warn") if note else ""

    # actions ---------------------------------------------------------------------------
    def stop(self) -> bool:
        """Stop the deployment picked in ``.deployment``; return success."""
        from nbmlops.serving.deployments import stop_deployment

        name = self.deployment.value
        if not name:
            self.show("stop refused: no running deployment is picked", "error")
            return False
        try:
            stop_deployment(name)
        except NbmlopsError as exc:
            self.show(f"stop failed: {exc}", "error")
            return False
        self.guard(self._load)
        self.show(f"deployment {name!r} stopped", "ok")
        return True

    def rollback(self) -> bool:
        """Move the alias the picked deployment follows back one version; return success."""
        from nbmlops.serving.deployments import rollback

        row = self._selected_row()
        reason = self.reason.value.strip()
        if row is None:
            self.show("roll back refused: no running deployment is picked", "error")
            return False
        if not reason:
            self.show("roll back refused: a reason is required (it goes in the audit log)",
                      "error")
            return False
        if "@" not in row["ref"]:
            self.show(f"roll back refused: {row['name']} serves the pinned version "
                      f"{row['ref']}, not an alias", "error")
            return False
        model, alias = row["ref"].split("@", 1)
        try:
            mv = rollback(model, alias, reason=f"rollback: {reason}")
        except NbmlopsError as exc:
            self.show(f"roll back refused: {exc}", "error")
            return False
        self.reason.value = ""
        self.guard(self._load)
        self.show(f"{model}@{alias} rolled back to v{mv.version}; {row['name']} swaps to it",
                  "ok")
        return True

    def snapshot_html(self) -> str:
        """Return the deployments table (sparklines as PNG)."""
        return (f"<div class='nbmlops-deployments-panel'>{r.heading(self.title)}"
                f"{self.message.value}{self.table.value}</div>")


def _table(rows: list[dict[str, Any]]) -> str:
    out = []
    for x in rows:
        h = x["health"]
        health = (f"<span style='color:#1a7f37'>● ok</span> {h['latency_ms']:.0f} ms"
                  if h.get("ok") else
                  f"<span style='color:#cf222e'>● {escape(str(h.get('error') or 'down'))}"
                  "</span>")
        latency = "" if x["latency_p50_ms"] is None else f"{x['latency_p50_ms']:.1f} ms "
        out.append([
            f"<b>{escape(x['name'])}</b>", escape(x["ref"]), f"v{x['version']}",
            r.badge(x["status"], "#1a7f37" if x["status"] == "running" else None),
            f"<a href='{escape(x['url'])}' target='_blank'>{escape(x['url'])}</a>",
            health, f"{x['rate_per_min']:.1f}/min "
                    + r.img(x["requests_sparkline"], "requests per minute"),
            latency + r.img(x["sparkline"], "latency p50"),
        ])
    return r.table(["deployment", "follows", "serving", "status", "URL", "health",
                    "requests (15 min)", "latency p50"], out)
