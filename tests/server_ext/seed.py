"""A small store for the sidebar tests: runs with metric curves, and a gated model.

``churn/1`` passed its checks (promotable), ``churn/2`` failed ``accuracy`` (refused);
``churn@staging`` points at version 1.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

#: what a new user is told to type when the store is empty
TRACK_EXAMPLE = "%%track"


@dataclass(frozen=True)
class Seeded:
    """Ids of what :func:`seed` recorded."""

    run_ids: list[str]  # newest first
    model: str
    good_version: int
    bad_version: int


def seed(notebook_path: str | None = None) -> Seeded:
    """Record three runs (the last two with models) and register ``churn`` twice, gated."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops.registry import checks

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = (X["a"] + 0.5 * X["b"] > 0).astype(int)
    ids: list[str] = []
    for i, C in enumerate((0.1, 1.0, 10.0)):
        source = f"model = LogisticRegression(C={C}).fit(X, y)\nacc = model.score(X, y)"
        with nbmlops.start_run(f"train-{i}", experiment="churn", params={"C": C},
                               source=source, notebook_path=notebook_path,
                               capture=False) as run:
            for step in range(20):
                nbmlops.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            clf = LogisticRegression(C=C).fit(X, y)
            nbmlops.log_metric("acc", float(clf.score(X, y)))
            if i:
                nbmlops.log_model(clf, input_example=X.head(3))
        ids.append(run.id)
    good = nbmlops.register_model("churn", run=ids[1])
    bad = nbmlops.register_model("churn", run=ids[2])
    for mv, acc in ((good, 0.93), (bad, 0.41)):
        checks.start(mv.ref, model=object())
        checks.check("accuracy", acc >= 0.9, value=acc, threshold={"min": 0.9})
        checks.check("latency", True, value=3.0, threshold={"max": 50})
        checks.finish()
    nbmlops.set_alias("churn", "staging", good.version, reason="first candidate")
    return Seeded(ids[::-1], "churn", good.version, bad.version)


def dump(home: Path) -> list[str]:
    """Return the SQL dump of the store's database (to prove a refused write changed nothing)."""
    conn = sqlite3.connect(home / "nbmlops.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()
