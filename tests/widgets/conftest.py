"""Widget fixtures: runs with curves, registered versions with checks, a 10,000-run store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbmlops


@pytest.fixture
def runs3() -> list[str]:
    """Three finished runs: params differing in ``n`` and ``model``, an ``acc`` curve each."""
    ids = []
    for i, (n, model) in enumerate([(10, "rf"), (20, "rf"), (30, "lr")]):
        with nbmlops.start_run(f"run-{i}", params={"n": n, "model": model, "seed": 0},
                               source=f"fit(n={n})\n", capture=False) as run:
            for step in range(4):
                nbmlops.log_metric("acc", 0.5 + 0.1 * i + 0.02 * step, step=step)
            nbmlops.log_metric("loss", 1.0 - 0.1 * i)
            nbmlops.log_dataset(pd.DataFrame({"x": np.arange(5 + i)}), "train")
        ids.append(run.id)
    return ids


def add_checks(name: str, version: int, *passed: bool) -> None:
    """Record one check batch for a version (what %%modeltest stores)."""
    from nbmlops.registry.versions import _registry

    reg, _ = _registry()
    reg.add_check_results(name, version, uuid.uuid4().hex,
                          [{"check": f"c{i}", "passed": p} for i, p in enumerate(passed)])


@pytest.fixture
def churn() -> Callable[..., Any]:
    """Register churn/1 and churn/2 (LogisticRegression on a small frame) and return add_checks."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (X["a"] > 0).astype(int)
    for C in (1.0, 0.1):
        with nbmlops.start_run("train", params={"C": C}, capture=False) as run:
            nbmlops.log_dataset(X, "train")
            nbmlops.log_model(LogisticRegression(C=C).fit(X, y), input_example=X.head())
            nbmlops.log_metric("acc", 0.9 if C == 1.0 else 0.8)
        nbmlops.register_model("churn", run=run.id)
    return add_checks


def bulk_runs(n: int) -> None:
    """Insert ``n`` finished runs with 2 params and 1 metric each in one transaction."""
    import time

    from nbmlops.entities import RunStatus
    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    store, _ = open_store()
    first = store.create_run("bulk", "seed")  # creates the experiment
    store.end_run(first.id, RunStatus.FINISHED)
    with store.engine.begin() as conn:
        exp = conn.execute(s.experiments.select().where(s.experiments.c.name == "bulk")).first()
        assert exp is not None
        now = time.time()
        ids = [uuid.uuid4().hex for _ in range(n - 1)]
        conn.execute(s.runs.insert(), [
            {"id": rid, "experiment_id": exp.id, "name": f"r{i}", "status": "FINISHED",
             "start_time": now - n + i, "end_time": now - n + i + 1.0}
            for i, rid in enumerate(ids)])
        conn.execute(s.params.insert(), [
            {"run_id": rid, "key": key, "value": str(v), "value_num": float(v), "kind": "json"}
            for i, rid in enumerate(ids) for key, v in (("lr", i % 7), ("depth", i % 5))])
        conn.execute(s.latest_metrics.insert(), [
            {"run_id": rid, "key": "acc", "value": (i % 100) / 100, "is_nan": False,
             "step": 0, "timestamp": now} for i, rid in enumerate(ids)])
