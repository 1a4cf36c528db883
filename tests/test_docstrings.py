"""Every function in ``nbmlops.__all__`` documents its parameters, result and errors.

NumPy-style sections (``Parameters``, ``Returns``, ``Raises``), as napoleon renders them in
the Python reference. ruff's ``D`` rules (numpy convention) check the form of every
docstring in the package; this test checks that the public functions have the sections.
"""

from __future__ import annotations

import inspect

import pytest

import nbmlops

#: functions that cannot fail on user input, so they have no Raises section
NEVER_RAISE = {
    "active_run": "returns None when no run is active",
    "load_ipython_extension": "registers magics; imports only nbmlops' light modules",
}


def public_functions() -> list[str]:
    """Return the names in ``nbmlops.__all__`` that are functions."""
    return [n for n in nbmlops.__all__ if inspect.isfunction(getattr(nbmlops, n))]


def missing_sections(fn: object) -> list[str]:
    """Return the NumPy sections ``fn``'s docstring lacks."""
    doc = inspect.getdoc(fn) or ""
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    needed = []
    if [p for p in sig.parameters if p != "self"]:
        needed.append("Parameters")
    if sig.return_annotation not in ("None", None, inspect.Signature.empty):
        needed.append("Returns")
    if getattr(fn, "__name__", "") not in NEVER_RAISE:
        needed.append("Raises")
    return [s for s in needed if f"{s}\n{'-' * len(s)}" not in doc]


def test_there_are_public_functions() -> None:
    assert len(public_functions()) > 40


@pytest.mark.parametrize("name", public_functions())
def test_public_function_has_numpy_sections(name: str) -> None:
    assert missing_sections(getattr(nbmlops, name)) == []


def test_the_check_sees_a_missing_section() -> None:
    def f(x: int) -> int:
        """Return x.

        Parameters
        ----------
        x : int
            A number.
        """
        return x

    assert missing_sections(f) == ["Returns", "Raises"]
