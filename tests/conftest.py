"""Shared fixtures: every test gets its own store in a temp folder."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


@pytest.fixture(autouse=True)
def nbmlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point NBMLOPS_HOME at a fresh folder and forget cached stores and active runs."""
    from nbmlops import store
    from nbmlops.tracking import active

    home = tmp_path / ".nbmlops"
    monkeypatch.setenv("NBMLOPS_HOME", str(home))
    for var in ("NBMLOPS_STORE_URL", "NBMLOPS_ARTIFACT_URL", "NBMLOPS_PARENT_RUN_ID",
                "NBMLOPS_NOTEBOOK_PATH"):
        monkeypatch.delenv(var, raising=False)
    store.reset()
    active.clear()
    yield home
    active.clear()
    store.reset()


def require(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, or fail when NBMLOPS_REQUIRE_ALL=1 (CI)."""
    if condition:
        return
    if os.environ.get("NBMLOPS_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


def wait_until(condition: Callable[[], T], what: str, *, timeout: float = 60.0,
               interval: float = 0.02) -> T:
    """Return ``condition()``'s first truthy value, polling it until ``timeout`` seconds pass.

    The way tests wait for another process or thread: never a fixed sleep. On timeout the
    test fails naming ``what`` it waited for.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {what}")
        time.sleep(interval)


async def await_until(condition: Callable[[], Awaitable[T]], what: str, *,
                      timeout: float = 60.0, interval: float = 0.2) -> T:
    """Return the first truthy value of ``await condition()``: ``wait_until`` for coroutines."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g}s for {what}")
        await asyncio.sleep(interval)


@pytest.fixture
def ip() -> Iterator[Any]:
    """Return the InteractiveShell (history off) with ``%load_ext nbmlops`` done."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from nbmlops.magics import register
    from nbmlops.tracking.provenance import forget_tracker

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.reset(new_session=True)
    forget_tracker(shell)
    register(shell)
    yield shell
    forget_tracker(shell)
    shell.reset(new_session=True)
