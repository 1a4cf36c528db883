"""Deployment: declared fields read from its store row, no dict proxy."""

from __future__ import annotations

import typing

import pytest

from nbmlops.serving.deployments import Deployment

ROW = {"id": "a" * 32, "name": "churn-8080", "ref": "churn@production", "model": "churn",
       "version": 3, "url": "http://127.0.0.1:8080", "host": "127.0.0.1", "port": 8080,
       "pid": None, "hostname": "another-machine", "runtime": "sklearn", "workers": 1,
       "status": "stopped", "started_at": 1_700_000_000.0, "stopped_at": 1_700_000_100.0,
       "log_path": "/tmp/churn.log"}


def test_every_field_is_declared_with_a_type() -> None:
    hints = typing.get_type_hints(Deployment)
    dep = Deployment(ROW, token="tok")
    assert set(vars(dep)) == set(hints)
    assert dep.deployed_version == 3 and dep.port == 8080 and dep.token == "tok"
    assert dep.recorded_status == "stopped" and dep.status == "stopped"  # not on this machine


def test_as_dict_is_the_store_row_with_the_live_status() -> None:
    assert Deployment(ROW).as_dict() == ROW


def test_unknown_attributes_raise_instead_of_reading_the_row() -> None:
    dep = Deployment({**ROW, "extra_column": 1})
    with pytest.raises(AttributeError):
        dep.extra_column  # type: ignore[attr-defined]  # noqa: B018
