"""Serving fixtures: registered models, in-process apps, and real server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

COLUMNS = ["age", "income", "visits", "score"]


def make_data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Return a small churn-like frame (int and float columns) and a 0/1 target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50_000, 15_000, n).round(2),
        "visits": rng.integers(0, 30, n),
        "score": rng.random(n),
    })
    y = ((frame["visits"] > 12) ^ (frame["score"] > 0.7)).astype(int)
    return frame, pd.Series(y, name="churned")


def register(name: str, model: Any, alias: str | None = "production",
             frame: pd.DataFrame | None = None, y: pd.Series | None = None) -> int:
    """Fit ``model``, log it with its training data, register it; return the version."""
    import nbmlops
    from nbmlops.registry.aliases import set_alias

    if frame is None or y is None:
        frame, y = make_data()
    with nbmlops.start_run(name=f"train-{name}") as run:
        run.log_dataset(frame, "train")
        run.log_model(model.fit(frame, y), input_example=frame.head())
    mv = nbmlops.register_model(name, run=run)
    if alias:
        set_alias(name, alias, mv.version)
    return mv.version


@pytest.fixture
def churn() -> str:
    """Register a LogisticRegression as churn/1 (churn@production) and return 'churn'."""
    from sklearn.linear_model import LogisticRegression

    register("churn", LogisticRegression(max_iter=500))
    return "churn"


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 90) -> None:
    """Wait until ``url`` answers 200 (fail early if ``proc`` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout}s")


def free_port() -> int:
    """Return a free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(args: list[str], home: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m nbmlops serve ARGS`` with its own store home."""
    env = {**os.environ, "NBMLOPS_HOME": str(home)}
    for var in ("NBMLOPS_STORE_URL", "NBMLOPS_ARTIFACT_URL", "NBMLOPS_SERVE_TOKEN"):
        env.pop(var, None)
    return subprocess.Popen([sys.executable, "-m", "nbmlops", "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> str:
    """Terminate a server process; return its output."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real ``nbmlops serve`` process for churn@production, shared by a module."""
    from sklearn.linear_model import LogisticRegression

    from nbmlops import store

    home = tmp_path_factory.mktemp("live") / ".nbmlops"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBMLOPS_HOME", str(home))
        store.reset()
        register("churn", LogisticRegression(max_iter=500))
        store.reset()
    port = free_port()
    proc = start_serve(["churn@production", "--port", str(port), "--max-body-bytes",
                        str(1024 * 1024)], home)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v2/health/ready", proc)
    frame, _ = make_data()
    yield {"url": url, "port": port, "home": home, "proc": proc, "frame": frame}
    stop(proc)


@pytest.fixture
def asgi_client() -> Callable[..., Any]:
    """Return ``make(app)``: an async context manager yielding an in-process httpx client."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(app: Any) -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c

    return make
