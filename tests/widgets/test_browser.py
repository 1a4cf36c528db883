"""The dashboard in a real JupyterLab, in headless Debian chromium: cells run live, the widgets
render, and a screenshot is kept in tests/_artifacts/."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests._jupyterlab import ARTIFACTS, chromium, jupyterlab, open_lab, require_browser

CELLS = [
    "import nbmlops\nd = nbmlops.dashboard()\nd",
    "d.runs.selected = tuple(d.runs.frame['run_id'][:2])",
]


@pytest.mark.kernel
@pytest.mark.slow
def test_dashboard_renders_in_jupyterlab(runs3: list[str], tmp_path: Path) -> None:
    require_browser()
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nbformat.write(nb, root / "dash.ipynb")
    with jupyterlab(root) as lab, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        open_lab(page, lab, "lab/tree/dash.ipynb")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # a notebook opened from disk is untrusted: its widgets render only from a live kernel
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.sessionContext && w.sessionContext.session"
            " && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.connectionStatus === 'connected'; }",
            timeout=180_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        widget = page.locator(".jp-OutputArea-output .widget-tab").first
        widget.wait_for(timeout=180_000)
        page.get_by_text("run-2", exact=False).first.wait_for(timeout=60_000)
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Compare").first.wait_for()
        # the second cell's selection shows its comparison and curves
        page.locator(".jp-OutputArea-output img[src^='blob:'], "
                     ".jp-OutputArea-output .widget-image").first.wait_for(timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "widgets-dashboard-runs.png"
        widget.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        for title in ("Runs", "Models", "Deployments", "Monitoring", "Pipelines"):
            assert page.locator(".widget-tab .lm-TabBar-tab", has_text=title).count() >= 1
        page.locator(".widget-tab .lm-TabBar-tab", has_text="Models").first.click()
        page.get_by_text("No registered models yet").first.wait_for(timeout=60_000)
        widget.screenshot(path=str(ARTIFACTS / "widgets-dashboard-models.png"))
    widget_errors = [e for e in errors if "widget" in e.lower()]
    assert widget_errors == [], widget_errors
