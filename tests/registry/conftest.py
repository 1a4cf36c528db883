"""Registry fixtures: trained runs on real data, and a snapshot of every registry table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbmlops


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, pd.Series]:
    """A small, learnable binary classification frame."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                      "segment": rng.choice(["north", "south"], size=200)})
    y = pd.Series((X["a"] + 0.5 * X["b"] > 0).astype(int), name="y")
    return X, y


def fit(data: tuple[pd.DataFrame, pd.Series], C: float = 1.0) -> Any:
    """Return a LogisticRegression fitted on the numeric columns."""
    from sklearn.linear_model import LogisticRegression

    X, y = data
    return LogisticRegression(C=C).fit(X[["a", "b"]], y)


@pytest.fixture()
def trained_run(data: tuple[pd.DataFrame, pd.Series]) -> Callable[..., nbmlops.Run]:
    """Return a factory of finished runs holding a logged model, params, metrics, data."""

    def make(C: float = 1.0, model: Any = None, **run_kwargs: Any) -> nbmlops.Run:
        X, y = data
        clf = model if model is not None else fit(data, C)
        with nbmlops.start_run(**run_kwargs) as run:
            nbmlops.log_params({"C": C})
            nbmlops.log_dataset(X, "train")
            nbmlops.log_model(clf, input_example=X[["a", "b"]])
            nbmlops.log_metric("acc", float(clf.score(X[["a", "b"]], y)))
        return run

    return make


def snapshot(home: Path) -> dict[str, Any]:
    """Return every registry row and artifact blob name (to prove nothing changed)."""
    from sqlalchemy import select

    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    sql, _ = open_store()
    out: dict[str, Any] = {}
    with sql._read() as conn:
        for table in (s.registered_models, s.model_versions, s.model_aliases, s.alias_history,
                      s.check_results, s.artifacts, s.runs):
            out[table.name] = [tuple(r) for r in conn.execute(select(table))]
    out["blobs"] = sorted(p.name for p in (home / "artifacts").rglob("*") if p.is_file())
    return out


@pytest.fixture()
def store_snapshot(nbmlops_home: Path) -> Callable[[], dict[str, Any]]:
    """Return a function that snapshots the registry tables and artifact blobs."""
    return lambda: snapshot(nbmlops_home)
