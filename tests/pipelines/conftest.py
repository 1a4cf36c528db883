"""Fixtures: a fresh copy of a fixture pipeline folder per test (steps write files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pipelines import get_notebook_path


def copy_fixture(name: str, dest: Path) -> Path:
    """Copy tests/notebooks/<name> to ``dest`` and return it."""
    shutil.copytree(get_notebook_path(name), dest)
    return dest


@pytest.fixture
def basic(tmp_path: Path) -> Path:
    """Return a writable copy of the prep → train → evaluate pipeline folder."""
    return copy_fixture("pipeline_basic", tmp_path / "basic")


@pytest.fixture
def misc(tmp_path: Path) -> Path:
    """Return a writable copy of the failing/parallel pipelines folder."""
    return copy_fixture("pipeline_misc", tmp_path / "misc")
