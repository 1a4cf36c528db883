"""nbmlops.diff_runs: params, metrics, code, data, environment and provenance of two runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import RunNotFound, ValidationError
from nbmlops.tracking.diff import diff_runs
from nbmlops.tracking.diff_card import ADDED


def _run(name: str, params: dict[str, object], source: str, acc: float,
         frame: pd.DataFrame) -> str:
    with nbmlops.start_run(name, params=params, source=source) as run:
        nbmlops.log_metric("acc", acc)
        nbmlops.log_metric("loss", 0.5)
        nbmlops.log_dataset(frame, "train")
        nbmlops.log_dataset(np.arange(3.0), "labels")
    return run.id


@pytest.fixture
def pair() -> tuple[str, str]:
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    a = _run("rf-100", {"n": 100, "model": "rf", "seed": 1}, "fit(n=100)\nscore()\n", 0.9, df)
    df2 = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "z": [0, 1, 0, 1]})
    b = _run("rf-200", {"n": 200, "model": "rf", "depth": 5}, "fit(n=200)\nscore()\n", 0.93,
             df2)
    return a, b


def test_diff_fields(pair: tuple[str, str]) -> None:
    a, b = pair
    d = diff_runs(a, b)
    assert (d.a, d.b, d.a_name, d.b_name) == (a, b, "rf-100", "rf-200")
    assert {(c.key, c.kind) for c in d.params} == {
        ("n", "changed"), ("seed", "removed"), ("depth", "added")}
    assert d.same_params == 1
    [acc] = d.metrics  # loss is equal in both runs: not listed
    assert acc.key == "acc" and acc.delta == pytest.approx(0.03)
    assert d.code_kind == "cell"
    assert "-fit(n=100)" in d.code and "+fit(n=200)" in d.code and " score()" in d.code
    [train] = d.data  # labels has the same fingerprint: not listed
    assert train.name == "train" and train.kind == "changed"
    assert (train.a_shape, train.b_shape) == ((3, 2), (4, 2))
    assert train.columns_added == ["z"] and train.columns_removed == ["y"]
    assert train.dtypes_changed == {"x": ("int64", "float64")}
    # both environments were captured in this process: identical
    assert d.environment.captured == (True, True) and d.environment.empty
    assert not d.empty


def test_to_dict_is_json(pair: tuple[str, str]) -> None:
    a, b = pair
    d = diff_runs(nbmlops.get_run(a), nbmlops.get_run(b)).to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["a"] == {"run_id": a, "name": "rf-100"}
    assert back["data"][0]["columns_added"] == ["z"]
    assert {p["key"] for p in back["params"]} == {"n", "seed", "depth"}


def test_html_card(pair: tuple[str, str]) -> None:
    html = diff_runs(*pair)._repr_html_()
    assert "rf-100" in html and "rf-200" in html
    assert "fit(n=200)" in html and "<svg" not in html
    assert ADDED in html  # added lines highlighted


def test_same_run_is_empty() -> None:
    with nbmlops.start_run("solo", params={"a": 1}, source="x = 1") as run:
        nbmlops.log_metric("m", float("nan"))
    d = diff_runs(run.id, run.id)
    assert d.empty and d.code == "" and d.metrics == []
    assert "no differences" in d._repr_html_()
    json.dumps(d.to_dict(), allow_nan=False)


def test_environment_changes() -> None:
    from nbmlops.store import open_store

    store, _ = open_store()
    base: dict[str, object] = {"python_version": "3.12.1",
                               "packages": {"numpy": "2.0", "pandas": "2.2", "old": "1"}}
    new: dict[str, object] = {"python_version": "3.12.2",
                              "packages": {"numpy": "2.1", "pandas": "2.2", "fresh": "0.1"}}
    for env in (base, new):
        env.update(platform="Linux", imported={}, upgraded={}, variables={})
    store.put_environment("e1", base)
    store.put_environment("e2", new)
    ids = []
    for h in ("e1", "e2"):
        with nbmlops.start_run(capture=False) as run:
            pass
        store.update_run(run.id, environment_hash=h)
        ids.append(run.id)
    env = diff_runs(*ids).environment
    assert env.python == ("3.12.1", "3.12.2")
    assert env.added == {"fresh": "0.1"} and env.removed == {"old": "1"}
    assert env.changed == {"numpy": ("2.0", "2.1")}


def test_uncaptured_environment_is_said() -> None:
    with nbmlops.start_run(capture=False) as a:
        pass
    with nbmlops.start_run(capture=False) as b:
        pass
    d = diff_runs(a.id, b.id)
    assert d.environment.captured == (False, False)
    assert "not captured" in d._repr_html_()


def test_notebook_code_of_pipeline_steps() -> None:
    def nb(src: str) -> str:
        return json.dumps({"cells": [{"cell_type": "markdown", "source": "# t"},
                                     {"cell_type": "code", "source": [src]}]})

    ids = []
    for src in ("a = 1\n", "a = 2\n"):
        with nbmlops.start_run(capture=False) as run:
            nbmlops.log_artifact(nb(src).encode(), name="executed.ipynb")
        ids.append(run.id)
    d = diff_runs(*ids)
    assert d.code_kind == "notebook"
    assert "-a = 1" in d.code and "+a = 2" in d.code


@pytest.mark.parametrize("bad", ["", None, 42])
def test_bad_reference(bad: object) -> None:
    with pytest.raises(ValidationError, match="run id or a Run"):
        diff_runs(bad, bad)  # type: ignore[arg-type]


def test_unknown_run_names_it() -> None:
    with nbmlops.start_run(capture=False) as run:
        pass
    with pytest.raises(RunNotFound, match="f" * 32):
        diff_runs(run.id, "f" * 32)


def test_cli_runs_diff(pair: tuple[str, str]) -> None:
    a, b = pair
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "diff", a[:8], b],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "+fit(n=200)" in proc.stdout and "n" in proc.stdout and "acc" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "diff", a, b,
                           "--format", "json"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["b"]["name"] == "rf-200"
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "diff", a, "0" * 32],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1 and "0" * 32 in proc.stderr
