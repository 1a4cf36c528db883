"""Fast deploys (issue 15): ONNX converted once per version and swapped in without a failed
request; start-up failures reported in one line, with no process left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import wait_until
from tests.serving.conftest import make_data


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _register_array_forest(name: str) -> Any:
    """A forest fitted on a NumPy array, logged without an input example (no signature)."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import nbmlops

    x, y = make_classification(300, 6, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    model = RandomForestClassifier(n_estimators=25, random_state=0).fit(x, y)  # odd: no ties
    with nbmlops.start_run(name=f"train-{name}") as run:
        run.log_dataset(frame, "train")  # statistics only: the verification rows come from them
        run.log_model(model)
    return nbmlops.register_model(name, run=run), frame


def test_onnx_is_converted_once_and_swapped_in_without_a_failed_request() -> None:
    import nbmlops
    from nbmlops.registry.versions import get_model_version
    from nbmlops.store import open_store

    mv, frame = _register_array_forest("arr")
    assert "onnx" not in mv.meta
    dep = nbmlops.deploy("arr/1")
    results: list[tuple[int, Any]] = []
    done = threading.Event()
    rows = frame.head(8).to_numpy().tolist()

    def client() -> None:
        with httpx.Client(timeout=30) as c:
            i = 0
            while not done.is_set():
                r = c.post(f"{dep.url}/invocations", json={"instances": [rows[i % 8]]})
                results.append((r.status_code, r.json()))
                i += 1

    threads = [threading.Thread(target=client) for _ in range(3)]
    try:
        first = httpx.get(f"{dep.url}/version").json()
        assert first["runtime"] == "sklearn" and "in the background" in first["runtime_reason"]
        assert set(first["startup"]) >= {"start", "load", "ready"}
        assert "ready in" in repr(dep) and "load" in repr(dep)
        for t in threads:
            t.start()
        wait_until(lambda: httpx.get(f"{dep.url}/version").json()["runtime"] == "onnx",
                   "the server to switch to the verified ONNX", timeout=180)
        n = len(results)
        wait_until(lambda: len(results) >= n + 6, "requests answered by onnxruntime")
    finally:
        done.set()
        for t in threads:
            t.join()
        dep.stop()
    assert results and all(s == 200 for s, _ in results), {s for s, _ in results}
    model = nbmlops.load_model("arr/1")
    want = model.predict(np.asarray(rows)).tolist()
    assert {tuple(b["predictions"]) for _, b in results} <= {(w,) for w in want}
    rec = get_model_version("arr/1").meta["onnx"]
    assert rec["status"] == "verified" and rec["rows"] >= 100
    _, artifacts = open_store()
    assert artifacts.exists(rec["sha256"])
    # the next deploy of this version serves ONNX at once: nothing is converted again
    again = nbmlops.deploy("arr/1")
    try:
        assert httpx.get(f"{again.url}/version").json()["runtime"] == "onnx"
    finally:
        again.stop()
    assert get_model_version("arr/1").meta["onnx"]["at"] == rec["at"]


def test_failed_conversion_keeps_sklearn_and_says_why() -> None:
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops.errors import DeployError
    from nbmlops.registry.versions import get_model_version
    from nbmlops.serving.convert import convert_version
    from nbmlops.serving.service import ModelService

    frame, y = make_data()
    frame = frame.assign(plan=np.where(frame["age"] > 40, "pro", "free"))
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pipe = make_pipeline(make_column_transformer((OneHotEncoder(), ["plan"]),
                                                 remainder="passthrough"),
                         LogisticRegression(max_iter=500))
    with nbmlops.start_run(name="strings") as run:
        run.log_model(pipe.fit(frame, y), input_example=frame.head())
    nbmlops.register_model("strings", run=run)
    rec = convert_version(get_model_version("strings/1"))
    assert rec == {**rec, "status": "failed",
                   "reason": "only all-numeric inputs are converted to ONNX"}
    service = ModelService("strings/1", "auto")
    assert service.current.runtime.name == "sklearn"
    assert "only all-numeric inputs" in service.current.runtime_reason
    assert not service.current.onnx_pending
    with pytest.raises(DeployError, match="strings/1 cannot be served with onnxruntime: only"):
        ModelService("strings/1", "onnx")


def test_a_model_that_cannot_be_loaded_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops
    from nbmlops.errors import DeployError
    from nbmlops.serving.deployments import list_deployments
    from tests.serving.crashy import KillOnPredict

    frame, y = make_data()
    with nbmlops.start_run(name="custom") as run:
        run.log_model(KillOnPredict().fit(frame, y), input_example=frame.head(),
                      trusted=["tests.serving.crashy.KillOnPredict"])
    nbmlops.register_model("custom", run=run)
    monkeypatch.delenv("NBMLOPS_TRUSTED_TYPES", raising=False)
    with pytest.raises(DeployError) as info:  # how fast: benchmarks/bench_serving.py
        nbmlops.deploy("custom/1")
    msg = str(info.value)
    assert "\n" not in msg and "refusing to load" in msg and "KillOnPredict" in msg
    dep = list_deployments(include_stopped=True)[0]
    assert dep.status == "failed" and _group_gone(dep.pid)


def test_a_server_killed_during_start_up_fails_in_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops
    from nbmlops.errors import DeployError
    from nbmlops.serving.deployments import list_deployments
    from tests.serving.crashy import KillOnPredict

    frame, y = make_data()
    with nbmlops.start_run(name="killer") as run:
        run.log_model(KillOnPredict().fit(frame, y), input_example=frame.head(),
                      trusted=["tests.serving.crashy.KillOnPredict"])
    nbmlops.register_model("killer", run=run)
    monkeypatch.setenv("NBMLOPS_TRUSTED_TYPES", "tests.serving.crashy.KillOnPredict")
    with pytest.raises(DeployError, match="before it was ready") as info:
        nbmlops.deploy("killer/1", runtime="sklearn")  # the warm-up predict kills it
    assert "\n" not in str(info.value)
    dep = list_deployments(include_stopped=True)[0]
    assert dep.status == "failed" and _group_gone(dep.pid)


def test_a_worker_dying_during_start_up_stops_the_others() -> None:
    code = (
        "import os, sys\n"
        "from nbmlops.serving.workers import supervise\n"
        "def run(ready):\n"
        "    import time; time.sleep(0.2); os._exit(3)\n"
        "try:\n"
        "    supervise(run, 3)\n"
        "except Exception as exc:\n"
        "    print('Error:', exc); sys.exit(1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1
    line = out.stdout.strip()
    assert line.startswith("Error: worker ") and "exited with code 3 during start-up" in line
