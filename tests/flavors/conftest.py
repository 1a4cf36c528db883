"""Flavor fixtures: the registry's store snapshot, to prove refusals change nothing."""

from __future__ import annotations

from tests.registry.conftest import store_snapshot  # noqa: F401 (a fixture, used by name)
