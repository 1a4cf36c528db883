"""Browser-test helpers: a real JupyterLab server process and Debian's headless chromium.

Shared by every test that opens JupyterLab (widget panels, the sidebar extension)::

    from tests._jupyterlab import ARTIFACTS, chromium, jupyterlab, require_browser

    def test_x(tmp_path):
        require_browser()
        with jupyterlab(tmp_path / "root") as lab, chromium() as browser:
            page = browser.new_page()
            page.goto(lab.url("lab"))

The server listens on 127.0.0.1 with a random token, keeps its config, runtime, settings
and workspace folders in a temp folder, and inherits the test's environment (so kernels
see the test's ``NBMLOPS_HOME``). Chromium is Debian's ``/usr/bin/chromium`` driven by
Playwright's Python package through ``executable_path``: no browser is downloaded.
Screenshots and server logs go to ``tests/_artifacts/`` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import require

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """Return the path of Debian's chromium, or None when it is not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def require_browser() -> None:
    """Skip (or fail under NBMLOPS_REQUIRE_ALL=1) without chromium, playwright or jupyterlab."""
    require(chromium_path() is not None, "chromium is not installed (apt-get install chromium)")
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            require(False, f"python package {module} is not installed")


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token, process and log file."""

    base: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path
    root: Path

    def url(self, path: str = "lab") -> str:
        """Return the URL of ``path`` under the server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(lab: Lab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.proc.poll() is not None:
            raise AssertionError(f"jupyterlab exited with {lab.proc.returncode}:\n"
                                 f"{lab.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"jupyterlab not ready after {timeout}s:\n{lab.log.read_text()[-3000:]}")


@contextmanager
def jupyterlab(root: Path, *, timeout: float = 180, extra_args: list[str] | None = None,
               env: dict[str, str] | None = None,
               settings: dict[str, dict[str, Any]] | None = None,
               base_url: str = "/") -> Iterator[Lab]:
    """Run ``python -m jupyterlab`` serving ``root`` on 127.0.0.1; stop it on exit.

    ``window.jupyterapp`` is exposed (``expose_app_in_browser``), so a test can run
    JupyterLab commands such as ``notebook:run-all-cells`` from the page. ``settings``
    maps ``"@jupyterlab/apputils-extension:themes"``-style plugin ids to user settings,
    e.g. ``{"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}``.
    ``base_url`` (e.g. ``/user/alice/``, as JupyterHub sets it) prefixes every URL;
    ``Lab.base`` includes it.
    """
    root.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="nbmlops-lab-"))
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"jupyterlab-{os.getpid()}-{int(time.time() * 1000)}.log"
    port, token = _free_port(), secrets.token_hex(16)
    full_env = {**os.environ, **(env or {})}
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")):
        full_env[var] = str(state / sub)
    # no "get notified about Jupyter news?" toast over the screenshots
    all_settings = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
                    **(settings or {})}
    for plugin, values in all_settings.items():
        package, name = plugin.split(":")
        target = state / "settings" / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--ServerApp.base_url={base_url}",
           *(extra_args or [])]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=root)
    lab = Lab(f"http://127.0.0.1:{port}{base_url.rstrip('/')}", token, proc, log, root)
    try:
        _wait_ready(lab, timeout)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def chromium() -> Iterator[Any]:
    """Yield a headless Debian chromium (a Playwright ``Browser``); closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    assert path is not None, "call require_browser() first"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_lab(page: Any, lab: Lab, path: str = "lab", timeout_ms: int = 120_000) -> None:
    """Go to ``path`` and wait until JupyterLab has finished starting (splash gone)."""
    page.goto(lab.url(path), timeout=timeout_ms)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=timeout_ms)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout_ms)
