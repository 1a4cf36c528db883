"""Several processes tracking into one PostgreSQL store at once lose nothing.

Every insert-if-absent (environment, dataset, experiment, model name) is hit by all
writers at the same moment: they share the experiment, the environment (same Python),
the dataset (same DataFrame) and the registered model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres

WORKER = r"""
import os, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
import nbmlops

go = Path(sys.argv[1])
deadline = time.time() + 60
while not go.exists():  # start together: the race is the point
    if time.time() > deadline:
        sys.exit("never told to start")
    time.sleep(0.01)
X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
y = (X["a"] > 20).astype(int)
for i in range(int(sys.argv[2])):
    with nbmlops.start_run(f"w{os.getpid()}-{i}", experiment="team",
                           params={f"p{k}": k for k in range(5)}) as run:
        nbmlops.log_dataset(X, "train")
        for step in range(200):
            nbmlops.log_metric("loss", 1 / (step + 1), step=step)
        nbmlops.log_model(LogisticRegression().fit(X, y), input_example=X.head(3))
    nbmlops.register_model("shared", run=run.id)
"""


def test_writers_race_on_every_shared_row(schema_url: str, tmp_path: Path) -> None:
    workers, runs_each = 3, 4
    go = tmp_path / "go"
    env = {**os.environ, "NBMLOPS_STORE_URL": schema_url,
           "NBMLOPS_ARTIFACT_URL": str(tmp_path / "artifacts"),
           "NBMLOPS_HOME": str(tmp_path / ".nbmlops")}
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(go), str(runs_each)],
                              env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(workers)]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-3000:]

    engine = create_engine(schema_url)
    try:
        with engine.connect() as conn:
            def one(sql: str) -> int:
                return int(conn.execute(text(sql)).scalar_one())

            total = workers * runs_each
            assert one("SELECT count(*) FROM runs WHERE status = 'FINISHED'") == total
            assert one("SELECT count(*) FROM metrics") == total * 200
            assert one("SELECT count(*) FROM params") == total * 5
            assert one("SELECT count(*) FROM experiments") == 1
            assert 1 <= one("SELECT count(*) FROM environments") <= workers  # imports may differ
            assert one("SELECT count(*) FROM datasets") == 1
            assert one("SELECT count(*) FROM run_datasets") == total
            assert one("SELECT count(*) FROM registered_models") == 1
            versions = [r[0] for r in conn.execute(
                text("SELECT version FROM model_versions ORDER BY version"))]
            assert versions == list(range(1, total + 1))
    finally:
        engine.dispose()
