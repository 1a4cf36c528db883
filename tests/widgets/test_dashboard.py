"""nbmlops.dashboard(): tabs, the text/html snapshot, refresh timers, the missing extra."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import pytest

import nbmlops
from nbmlops.errors import MissingDependencyError, ValidationError
from nbmlops.widgets import Dashboard, RunsPanel


def test_dashboard_panels_and_snapshot(runs3: list[str]) -> None:
    d = nbmlops.dashboard()
    assert isinstance(d, Dashboard)
    assert d.tabs.titles == ("Runs", "Models", "Deployments", "Monitoring", "Pipelines")
    assert [type(p).__name__ for p in d.panels] == [
        "RunsPanel", "ModelsPanel", "DeploymentsPanel", "MonitoringPanel", "PipelinesPanel"]
    assert len(d.runs.frame) == 3
    bundle = d._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    for title in ("Runs", "Models", "Deployments", "Monitoring", "Pipelines"):
        assert f">{title}" in html
    assert "run-2" in html and "<svg" not in html and "<script" not in html
    before = d.models.refresh_count
    d.tabs.selected_index = 1  # showing a tab refreshes it
    assert d.models.refresh_count == before + 1
    d.close()


def test_every_panel_alone_has_a_snapshot() -> None:
    from nbmlops import widgets

    for name in ("RunsPanel", "ModelsPanel", "DeploymentsPanel", "MonitoringPanel",
                 "PipelinesPanel"):
        panel = getattr(widgets, name)()
        bundle = panel._repr_mimebundle_()
        assert bundle["text/html"].startswith("<div class='nbmlops-"), name
        assert panel.message.value == "", (name, panel.message.value)
        panel.close()


def test_refresh_timer_runs_on_the_event_loop_and_stops_on_close(runs3: list[str]) -> None:
    async def main() -> None:
        d = nbmlops.dashboard(refresh=0.05)
        panel = RunsPanel(refresh=0.05)
        assert d.auto_refreshing and panel.auto_refreshing
        first = d.runs.refresh_count, panel.refresh_count
        deadline = time.monotonic() + 60
        while (d.runs.refresh_count < first[0] + 2 or panel.refresh_count < first[1] + 2) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # yield to the loop: the timer runs between "cells"
        assert d.runs.refresh_count >= first[0] + 2 and panel.refresh_count >= first[1] + 2
        handles = [d._handle, panel._handle]
        d.close()
        panel.close()
        assert all(h is not None and h.cancelled() for h in handles)
        assert not d.auto_refreshing and not panel.auto_refreshing

    asyncio.run(main())


@pytest.mark.parametrize("bad", [0, -5, "10", True, float("nan")])
def test_bad_refresh(bad: Any) -> None:
    with pytest.raises(ValidationError, match="refresh must be a positive number of seconds"):
        nbmlops.dashboard(refresh=bad)
    with pytest.raises(ValidationError, match=repr(bad).replace("(", r"\(")[:4]):
        RunsPanel(refresh=bad)


def test_refresh_needs_a_running_loop() -> None:
    with pytest.raises(ValidationError, match="needs a running event loop"):
        RunsPanel(refresh=5)


def test_without_the_ui_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    module = importlib.import_module("nbmlops.widgets.dashboard")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'nbmlops\[ui\]'"):
        module.dashboard()


def test_importing_the_widgets_package_stays_cheap() -> None:
    code = ("import sys, json, nbmlops.widgets, nbmlops\nnbmlops.dashboard\n"
            "print(json.dumps(sorted(m for m in ('ipywidgets', 'matplotlib')\n"
            "                        if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert json.loads(out) == []
