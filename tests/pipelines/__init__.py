"""Pipeline tests: real notebooks in tests/notebooks/pipeline_*, run with real papermill."""

from __future__ import annotations

from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def get_notebook_path(*parts: str) -> Path:
    """Return the path of a fixture under tests/notebooks/."""
    return NOTEBOOKS.joinpath(*parts)
