"""A real IPython shell with nbmlops loaded, reset between tests."""

from __future__ import annotations

from typing import Any


def run(shell: Any, code: str) -> Any:
    """Run a cell like a notebook does; raise its error if it fails; return its value."""
    result = shell.run_cell(code, store_history=True)
    result.raise_error()
    return result.result


def run_count(shell: Any) -> int:
    """Return how many runs the store holds."""
    import nbmlops

    return len(nbmlops.runs())
