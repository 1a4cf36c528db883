"""``nbmlops.__all__`` is sorted, complete, and every name in it resolves."""

from __future__ import annotations

import inspect

import nbmlops


def test_all_is_sorted_and_unique() -> None:
    assert list(nbmlops.__all__) == sorted(set(nbmlops.__all__))


def test_every_exported_name_resolves() -> None:
    for name in nbmlops.__all__:
        value = getattr(nbmlops, name)
        assert value is not None, name
        if callable(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_all_matches_lazy_exports_and_dir() -> None:
    lazy = set(nbmlops._EXPORTS)
    assert set(nbmlops.__all__) == lazy | {"__version__", "load_ipython_extension"}
    assert sorted(dir(nbmlops)) == sorted(nbmlops.__all__)


def test_public_functions_defined_where_exported_from() -> None:
    for name, module in nbmlops._EXPORTS.items():
        assert getattr(nbmlops, name).__module__ == module, name


def test_no_public_name_left_out() -> None:
    from nbmlops.tracking import api

    public = {n for n, v in vars(api).items()
              if not n.startswith("_") and inspect.isfunction(v) and v.__module__ == api.__name__}
    assert public <= set(nbmlops.__all__), public - set(nbmlops.__all__)


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        nbmlops.nope  # noqa: B018
