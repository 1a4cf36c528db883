"""The MLOps sidebar in a real JupyterLab, driven in headless Debian chromium.

One JupyterLab process and one browser for the whole story (an empty store, then runs and a
gated model): screenshots of each stage go to tests/_artifacts/sidebar-*.png.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests._jupyterlab import ARTIFACTS, Lab, chromium, jupyterlab, open_lab, require_browser
from tests.conftest import wait_until
from tests.server_ext.seed import seed

TAB = '.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="nbmlops-sidebar"]'
SIDEBAR = "#nbmlops-sidebar"


def shot(target: Any, name: str) -> Path:
    """Save a screenshot of a page or element under tests/_artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"sidebar-{name}.png"
    target.screenshot(path=str(path))
    assert path.stat().st_size > 3_000
    return path


def saved_left_panel(lab: Lab) -> str | None:
    """Return the left-area widget JupyterLab saved in its workspace (what a reload restores)."""
    with urllib.request.urlopen(lab.url("lab/api/workspaces/default"), timeout=5) as r:
        data = json.load(r)
    left = data.get("data", {}).get("layout-restorer:data", {}).get("left", {})
    return left.get("current")  # type: ignore[no-any-return]


def write_notebook(root: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Training"),
                *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    path = root / "train.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_sidebar_in_jupyterlab(tmp_path: Path, nbmlops_home: Path) -> None:
    require_browser()
    import nbmlops

    root = tmp_path / "root"
    root.mkdir()
    # a JupyterHub-style prefix: every request of the panel must carry it
    with jupyterlab(root, base_url="/user/alice/") as lab, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        api_calls: list[str] = []
        page.on("request",
                lambda r: api_calls.append(r.url) if "nbmlops/api" in r.url else None)
        open_lab(page, lab)
        page.wait_for_selector(".jp-Launcher", timeout=60_000)

        # the palette lists the commands under "nbmlops"
        page.evaluate("() => window.jupyterapp.commands.execute("
                      "'apputils:activate-command-palette')")
        palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette")
        palette.locator(".lm-CommandPalette-input").fill("nbmlops")
        for label in ("Track this cell", "Run this notebook as a pipeline step",
                      "Open MLOps panel"):
            palette.locator(".lm-CommandPalette-item", has_text=label).wait_for(state="attached")
        assert "nbmlops" in palette.locator(".lm-CommandPalette-header").first.inner_text().lower()
        shot(page, "palette")
        page.keyboard.press("Escape")

        # an empty store: the panel says how to start, and polling created no store
        page.locator(TAB).click()
        sidebar = page.locator(SIDEBAR)
        sidebar.locator(".nbmlops-empty").wait_for(timeout=30_000)
        assert "%%track" in sidebar.locator(".nbmlops-empty pre").inner_text()
        assert not nbmlops_home.exists()
        shot(sidebar, "empty")

        # runs and a gated model appear on the next refresh
        notebook = write_notebook(root, [
            f"model = LogisticRegression(C={c}).fit(X, y)\nacc = model.score(X, y)"
            for c in (0.1, 1.0, 10.0)])
        seeded = seed(notebook_path=str(notebook))
        sidebar.locator(".nbmlops-refresh").click()
        runs = sidebar.locator(".nbmlops-run")
        runs.nth(2).wait_for(timeout=30_000)
        assert runs.count() == 3
        assert runs.first.get_attribute("data-run-id") == seeded.run_ids[0]
        assert "train-2" in runs.first.inner_text() and "FINISHED" in runs.first.inner_text()
        assert sidebar.locator(".nbmlops-count").inner_text() == "(3)"
        shot(page, "runs")

        # the filter: a bad expression is explained inline, a good one narrows the list
        box = sidebar.locator(".nbmlops-filter")
        box.fill("metrics.acc >>> 1")
        box.press("Enter")
        error = sidebar.locator(".nbmlops-filter-error")
        error.wait_for(state="visible", timeout=30_000)
        assert "metrics.acc >>> 1" in error.inner_text()
        shot(sidebar, "filter-error")
        box.fill("params.C >= 1")
        box.press("Enter")
        error.wait_for(state="hidden", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('#nbmlops-sidebar "
                               ".nbmlops-run').length === 2", timeout=30_000)
        box.fill("")
        box.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#nbmlops-sidebar "
                               ".nbmlops-run').length === 3", timeout=30_000)

        # a run's detail in the main area: params, metrics, curves, provenance
        runs.first.click()
        detail = page.locator(f"#nbmlops-run-{seeded.run_ids[0]}")
        detail.locator(".nbmlops-params").wait_for(timeout=30_000)
        assert "C" in detail.locator(".nbmlops-params").inner_text()
        assert "acc" in detail.locator(".nbmlops-metrics").inner_text()
        assert "Provenance" in detail.locator(".nbmlops-provenance").inner_text()
        curve = detail.locator('figure.nbmlops-curve[data-metric="loss"]')
        curve.wait_for()
        assert "20 points" in curve.inner_text()
        assert curve.locator("polyline").count() == 1
        shot(page, "run-detail")

        # the source notebook opens at the cell that produced the run
        detail.locator(".nbmlops-open-source").click()
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.content && w.content.activeCell"
            " && w.content.activeCell.model.sharedModel.getSource().includes('C=10.0'); }",
            timeout=60_000)
        assert page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex") == 3

        # palette commands in the nbmlops category; "Track this cell" adds %%track
        for command, label in (("nbmlops:track-cell", "Track this cell"),
                               ("nbmlops:run-notebook-as-step",
                                "Run this notebook as a pipeline step"),
                               ("nbmlops:open-panel", "Open MLOps panel")):
            assert page.evaluate(f"() => window.jupyterapp.commands.label('{command}')") == label
        page.evaluate("() => window.jupyterapp.commands.execute('nbmlops:track-cell')")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.content.activeCell"
            ".model.sharedModel.getSource().startsWith('%%track\\nmodel = ')", timeout=30_000)

        # promote with a passing gate, asking for a reason
        model = sidebar.locator('.nbmlops-model[data-model="churn"]')
        model.locator('.nbmlops-version[data-version="1"] .nbmlops-promote').click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator(".nbmlops-reason-input").fill("ship it")
        assert dialog.locator(".nbmlops-alias-input").input_value() == "production"
        shot(dialog.locator(".jp-Dialog-content"), "promote-dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        model.locator(".nbmlops-alias-row", has_text="@production").wait_for(timeout=30_000)
        production = model.locator(".nbmlops-alias-row", has_text="@production")
        assert "v1" in production.inner_text()
        assert production.locator(".nbmlops-rollback").count() == 0  # nowhere to go back to
        assert nbmlops.get_model_version("churn@production").version == 1
        assert nbmlops.alias_history("churn")["reason"].iloc[-1] == "ship it"

        # a refused promotion shows why, and changes nothing
        model.locator('.nbmlops-version[data-version="2"] .nbmlops-promote').click()
        dialog.locator(".nbmlops-reason-input").fill("try the new one")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        refused = model.locator(".nbmlops-refused")
        refused.wait_for(state="visible", timeout=30_000)
        text = refused.inner_text()
        assert "churn/2 failed its latest checks" in text and "accuracy = 0.41" in text
        assert nbmlops.get_model_version("churn@production").version == 1
        shot(sidebar, "refused")
        shot(page, "models")

        # once @production moved (forced, from Python), its rollback names where it goes
        nbmlops.promote("churn", 2, "production", force=True, reason="hotfix")
        sidebar.locator(".nbmlops-refresh").click()
        back = production.locator(".nbmlops-rollback")
        back.wait_for(timeout=30_000)
        assert back.inner_text() == "Roll back to v1"
        shot(sidebar, "rollback")

        # "Run this notebook as a pipeline step": papermill runs it, the pipeline shows up
        hello = nbformat.v4.new_notebook()
        hello.cells = [nbformat.v4.new_code_cell("x = 41 + 1\nprint(x)")]
        hello.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                        "display_name": "Python 3"}
        nbformat.write(hello, root / "hello.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:open',"
                      " {path: 'hello.ipynb'})")
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " return w && w.context && w.context.path === 'hello.ipynb'"
            " && w.context.isReady; }", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute("
                      "'nbmlops:run-notebook-as-step')")
        page.get_by_text("hello.ipynb ran as a pipeline step").wait_for(timeout=180_000)
        shot(page, "pipeline-step")
        step = sidebar.locator('.nbmlops-pipeline .nbmlops-step', has_text="hello")
        step.wait_for(timeout=30_000)
        assert "ran" in step.inner_text().lower()

        # the panel comes back after a reload (layout restorer)
        wait_until(lambda: saved_left_panel(lab) == "nbmlops-sidebar",
                   "the workspace to save the open sidebar", timeout=60, interval=0.3)
        page.reload()
        page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=120_000)
        page.locator(SIDEBAR).locator(".nbmlops-run").first.wait_for(timeout=60_000)
        assert page.locator(SIDEBAR).is_visible()
    assert lab.base.endswith("/user/alice")
    assert api_calls and all(u.startswith(f"{lab.base}/nbmlops/api/") for u in api_calls)
    ours = [e for e in errors if "nbmlops" in e.lower()]
    assert ours == [], ours
