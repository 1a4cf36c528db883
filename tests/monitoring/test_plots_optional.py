"""Reports display without matplotlib (the README's main job installs nbmlops alone)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pandas as pd
import pytest

from nbmlops.monitoring.plots import NO_PLOTS, histograms_png, history_png

REPORT = SimpleNamespace(
    table=pd.DataFrame({"column": ["a"], "verdict": ["drift"]}),
    histograms={"a": {"kind": "numeric", "edges": [0.0, 1.0, 2.0], "reference": [3, 1],
                      "current": [1, 3]}})
HISTORY = pd.DataFrame({"time": pd.to_datetime([0, 3600], unit="s"), "drift_share": [0.0, 0.5]})


def test_plots_without_matplotlib_are_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert histograms_png(REPORT) == NO_PLOTS  # type: ignore[arg-type]
    assert history_png(HISTORY) == NO_PLOTS
    assert "pip install 'nbmlops[ui]'" in NO_PLOTS


def test_plots_with_matplotlib_are_pngs() -> None:
    pytest.importorskip("matplotlib")
    assert histograms_png(REPORT).startswith("<img alt=")  # type: ignore[arg-type]
    assert "data:image/png;base64," in history_png(HISTORY)
