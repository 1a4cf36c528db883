"""A real IPython shell with nbmlops loaded, reset between tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


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


def run(shell: Any, code: str) -> Any:
    """Run a cell like a notebook does; raise its error if it fails; return its value."""
    result = shell.run_cell(code, store_history=True)
    result.raise_error()
    return result.result


def run_count(shell: Any) -> int:
    """Return how many runs the store holds."""
    import nbmlops

    return len(nbmlops.runs())
