"""The Dashboard widget: the five panels in tabs, one refresh timer for the visible tab."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from nbmlops.widgets import _render as r
from nbmlops.widgets._panel import AutoRefresh, Panel, check_refresh
from nbmlops.widgets.deployments import DeploymentsPanel
from nbmlops.widgets.models import ModelsPanel
from nbmlops.widgets.monitoring import MonitoringPanel
from nbmlops.widgets.pipelines import PipelinesPanel
from nbmlops.widgets.runs import RunsPanel


class Dashboard(AutoRefresh, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Runs, Models, Deployments, Monitoring and Pipelines panels in a ``Tab`` (``.tabs``).

    With ``refresh=SECONDS`` the visible panel re-queries on that period; switching to a
    tab refreshes it. ``close()`` stops the timer and closes every panel.
    """

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        seconds = check_refresh(refresh)
        self.runs = RunsPanel()
        self.models = ModelsPanel()
        self.deployments = DeploymentsPanel()
        self.monitoring = MonitoringPanel()
        self.pipelines = PipelinesPanel()
        self.tabs = w.Tab(children=self.panels,
                          titles=tuple(p.title for p in self.panels))
        super().__init__(children=[self.tabs], **kwargs)
        self.tabs.observe(self._on_tab, names="selected_index")
        if seconds is not None:
            self.auto_refresh(seconds)

    @property
    def panels(self) -> list[Panel]:
        """Return the panels in tab order."""
        return [self.runs, self.models, self.deployments, self.monitoring, self.pipelines]

    @property
    def current(self) -> Panel:
        """Return the panel of the selected tab."""
        return self.panels[self.tabs.selected_index or 0]

    def refresh(self) -> None:
        """Re-query every panel."""
        for panel in self.panels:
            panel.refresh()

    def _tick_refresh(self) -> None:
        self.current.refresh()

    def _on_tab(self, change: Any) -> None:
        if change["new"] is not None:
            self.current.refresh()

    def close(self) -> None:
        """Stop the refresh timer and close the dashboard and its panels."""
        # getattr: __del__ also calls close() on a dashboard whose __init__ raised
        for name in ("runs", "models", "deployments", "monitoring", "pipelines", "tabs"):
            part = getattr(self, name, None)
            if part is not None:
                part.close()
        super().close()

    def snapshot_html(self) -> str:
        """Return every panel's static snapshot, one after the other."""
        body = "".join(f"<div style='margin:10px 0 18px 0'>{p.snapshot_html()}</div>"
                       for p in self.panels)
        return (f"<div class='nbmlops-dashboard' style='{r.FONT}'>"
                f"<div style='font-size:15px;font-weight:600'>nbmlops dashboard</div>"
                f"{body}</div>")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.snapshot_html()
        return data
