"""Notebook dashboards built from stock ipywidgets 8 (``pip install 'nbmlops[ui]'``).

``nbmlops.dashboard()`` shows every panel in tabs; each panel is also a widget on its own::

    from nbmlops.widgets import RunsPanel
    RunsPanel(experiment="churn")

Panels call only the core Python API. ipywidgets and matplotlib are imported when a
panel is first used, so ``import nbmlops`` stays cheap and works without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nbmlops.widgets.dashboard import dashboard

if TYPE_CHECKING:
    from nbmlops.widgets._dashboard import Dashboard
    from nbmlops.widgets.deployments import DeploymentsPanel
    from nbmlops.widgets.models import ModelsPanel
    from nbmlops.widgets.monitoring import MonitoringPanel
    from nbmlops.widgets.pipelines import PipelinesPanel
    from nbmlops.widgets.runs import RunsPanel

#: public name -> module that defines it (each needs ipywidgets, imported on first use)
_PANELS = {
    "Dashboard": "nbmlops.widgets._dashboard",
    "DeploymentsPanel": "nbmlops.widgets.deployments",
    "ModelsPanel": "nbmlops.widgets.models",
    "MonitoringPanel": "nbmlops.widgets.monitoring",
    "PipelinesPanel": "nbmlops.widgets.pipelines",
    "RunsPanel": "nbmlops.widgets.runs",
}

__all__ = ["Dashboard", "DeploymentsPanel", "ModelsPanel", "MonitoringPanel", "PipelinesPanel",
           "RunsPanel", "dashboard"]


def __getattr__(name: str) -> Any:
    module = _PANELS.get(name)
    if module is None:
        raise AttributeError(f"module 'nbmlops.widgets' has no attribute {name!r}")
    from nbmlops.widgets.dashboard import require_ui

    require_ui()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
