"""monitor(): volume, latency, drift and live accuracy from logged predictions."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import nbmlops
from nbmlops.errors import ModelNotFound, ValidationError
from nbmlops.store.serving import serving_store


@pytest.fixture()
def version() -> str:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = (X["a"] > 0).astype(int)
    with nbmlops.start_run("train") as run:
        nbmlops.log_dataset(X, "X_train")
        nbmlops.log_model(LogisticRegression().fit(X, y), input_example=X)
    return nbmlops.register_model("m", run=run).ref


def _log(ref: str, frame: pd.DataFrame, labels: list[int] | None, latency: float) -> None:
    name, version = ref.split("/")
    model = nbmlops.load_model(ref)
    rid = uuid.uuid4().hex
    preds = model.predict(frame).tolist()
    store = serving_store()
    store.add_predictions([{
        "request_id": rid, "model": name, "version": int(version), "at": time.time(),
        "n_rows": len(frame), "inputs": frame.to_dict(orient="list"),
        "outputs": {"predictions": preds}, "latency_ms": latency, "endpoint": "invocations",
    }])
    if labels is not None:
        store.add_feedback([{"request_id": rid, "model": name, "label": labels,
                             "at": time.time()}])


def test_no_traffic_is_reported_not_an_error(version: str) -> None:
    report = nbmlops.monitor(version)
    assert report.requests == 0 and report.drift is None
    assert "no served traffic" in report.notes[0]


def test_drift_latency_and_accuracy_from_logs(version: str) -> None:
    rng = np.random.default_rng(1)
    same = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    _log(version, same, labels=(same["a"] > 0).astype(int).tolist(), latency=1.0)
    report = nbmlops.monitor(version)
    assert report.requests == 1 and report.rows == 200
    assert report.drifted_columns == []
    assert report.accuracy is not None and report.accuracy > 0.9
    assert report.latency_ms["p50"] == pytest.approx(1.0)

    shifted = pd.DataFrame({"a": rng.normal(3.0, size=200), "b": rng.normal(size=200)})
    _log(version, shifted, labels=None, latency=3.0)
    report = nbmlops.monitor(version)
    assert report.drifted_columns == ["a"]
    assert report.labelled_rows == 200
    assert "X_train" in (report.reference or "")
    assert "PSI" in report._repr_html_()


def test_bad_inputs(version: str) -> None:
    with pytest.raises(ModelNotFound):
        nbmlops.monitor("nope@production")
    with pytest.raises(ValidationError, match="window_s"):
        nbmlops.monitor(version, window_s=-1)


def test_cli_monitor(version: str) -> None:
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(3)
    _log(version, pd.DataFrame({"a": rng.normal(3.0, size=100), "b": rng.normal(size=100)}),
         labels=None, latency=2.0)
    out = subprocess.run([sys.executable, "-m", "nbmlops", "monitor", version, "--format", "json"],
                         capture_output=True, text=True, check=True)
    body = json.loads(out.stdout)
    assert body["requests"] == 1 and body["drifted_columns"] == ["a"]
    bad = subprocess.run([sys.executable, "-m", "nbmlops", "monitor", "m@nowhere"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "m@nowhere" in bad.stderr
