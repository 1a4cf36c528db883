"""``%%track`` through a real Jupyter kernel (nbclient / jupyter_client), checked in the store."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from tests.conftest import require, wait_until

pytestmark = pytest.mark.kernel

SETUP = """\
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
df = load_iris(as_frame=True).frame
features = df.drop(columns="target")
target = df["target"]
C = 0.5"""
TRAIN = """\
%%track lr --params C --metrics acc
model = LogisticRegression(C=C, max_iter=300).fit(features, target)
acc = model.score(features, target)
acc"""
CELLS = [
    "%load_ext nbmlops",
    SETUP,
    TRAIN,
    "scaled = features * C",
    "C = 2.0",
    "bonus = 10",  # not in the notebook file on disk
    "%%track stale-read --metrics total\ntotal = float(scaled.values.sum()) + bonus",
    "%%track boom --metrics half\nimport nbmlops\nfor i in range(3):\n"
    "    nbmlops.log_metric('loss', 1.0 / (i + 1))\nhalf = 0.5\n"
    "raise RuntimeError('mid-cell failure')",
]


def _kernel_available() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "python3" in KernelSpecManager().find_kernel_specs()


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Execute the notebook once in a real kernel; share its store and outputs."""
    import nbformat
    from nbclient import NotebookClient

    require(_kernel_available(), "no python3 Jupyter kernel installed")
    folder = tmp_path_factory.mktemp("kernel")
    path = folder / "tracked.ipynb"
    on_disk = nbformat.v4.new_notebook()
    on_disk.cells = [nbformat.v4.new_code_cell(c) for c in CELLS if c != "bonus = 10"]
    nbformat.write(on_disk, path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    env = {**os.environ, "NBMLOPS_HOME": str(folder / ".nbmlops"),
           "NBMLOPS_NOTEBOOK_PATH": str(path)}
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)
    yield {"nb": nb, "home": folder / ".nbmlops", "path": path}


@pytest.fixture
def store(executed: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Point this test process at the kernel's store; return {run name: Run}."""
    from nbmlops import store as store_mod

    monkeypatch.setenv("NBMLOPS_HOME", str(executed["home"]))
    store_mod.reset()
    return {row.name: nbmlops.get_run(row.run_id) for row in nbmlops.runs().itertuples()}


def test_training_cell_is_recorded(executed: dict[str, Any], store: dict[str, Any]) -> None:
    import numpy as np
    from sklearn.datasets import load_iris

    from nbmlops.tracking.datasets import fingerprint

    run = store["lr"]
    assert run.status.value == "FINISHED"
    assert run.params == {"C": 0.5}
    assert run.source == TRAIN.split("\n", 1)[1]
    assert run.record.notebook_path == str(executed["path"])
    assert run.info.execution_count == 3
    features = load_iris(as_frame=True).frame.drop(columns="target")
    model = run.load_model("model")
    assert run.metrics["acc"] == pytest.approx(model.score(features, load_iris().target))
    assert np.array_equal(model.predict(features[:5]), model.predict(features.head()))
    fingerprints = {d.name: d.fingerprint for d in run.datasets}
    assert fingerprints["features"] == fingerprint(features).fingerprint
    assert set(fingerprints) == {"features", "target"}
    assert run.provenance.status == "clean"


def test_cell_output_is_unchanged_by_the_magic(executed: dict[str, Any]) -> None:
    outputs = executed["nb"].cells[2].outputs
    results = [o for o in outputs if o.output_type == "execute_result"]
    assert len(results) == 1 and float(results[0].data["text/plain"]) > 0.9
    cards = [o for o in outputs if "text/html" in o.get("data", {})
             and "nbmlops-run-card" in o.data["text/html"]]
    assert len(cards) == 1


def test_stale_state_is_flagged(store: dict[str, Any]) -> None:
    prov = store["stale-read"].provenance
    assert prov.status == "stale"
    assert prov.reasons == [
        "bonus was produced by In[6], whose code no longer appears in tracked.ipynb "
        "(as saved on disk)",
        "scaled was computed in In[4] from C, which was reassigned in In[5]; "
        "scaled was not recomputed since",
    ]
    assert prov.variables["scaled"]["source"] == "scaled = features * C"


def test_failing_cell_leaves_a_failed_run_with_metrics_so_far(
    executed: dict[str, Any], store: dict[str, Any]
) -> None:
    run = store["boom"]
    assert run.status.value == "FAILED"
    assert "RuntimeError: mid-cell failure" in run.record.error
    assert run.metric_history("loss")["value"].tolist() == [1.0, 0.5, pytest.approx(1 / 3)]
    assert run.metrics["half"] == 0.5
    errors = [o for o in executed["nb"].cells[7].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "RuntimeError"  # shown once, as usual


KILLED_CELL = """\
%%track doomed
import time, nbmlops
for i in range(5):
    nbmlops.log_metric("m", float(i))
print("logged", flush=True)
time.sleep(120)"""


def test_sigkilled_kernel_leaves_a_killed_run_with_flushed_metrics(tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    require(_kernel_available(), "no python3 Jupyter kernel installed")
    notebook = tmp_path / "doomed.ipynb"
    env = {**os.environ, "NBMLOPS_FLUSH_INTERVAL": "0.2", "JPY_SESSION_NAME": str(notebook)}
    env.pop("NBMLOPS_NOTEBOOK_PATH", None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        kc.execute_interactive("%load_ext nbmlops", timeout=60)
        kc.execute(KILLED_CELL)
        _wait_for_stdout(kc, "logged")
        wait_until(lambda: _stored_points("m") == 5, "the flush timer to write the 5 points")
        os.kill(km.provisioner.pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=30)
    finally:
        kc.stop_channels()
        km.cleanup_resources()
    (row,) = nbmlops.runs().itertuples()  # this access finds the dead kernel
    run = nbmlops.get_run(row.run_id)
    assert run.status.value == "KILLED"
    assert run.metric_history("m")["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert run.record.notebook_path == str(notebook)


def _stored_points(metric: str) -> int:
    """Return how many points of ``metric`` the store holds for the only run (0 before it)."""
    frame = nbmlops.runs()
    if frame.empty:
        return 0
    return len(nbmlops.get_run(frame["run_id"].iloc[0]).metric_history(metric))


def _wait_for_stdout(kc: Any, text: str) -> None:
    """Read iopub until a stream message contains ``text`` (the cell keeps running)."""
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["msg_type"] == "error":
            raise AssertionError(f"kernel error: {msg['content']}")
        if msg["msg_type"] == "stream" and text in msg["content"]["text"]:
            return
