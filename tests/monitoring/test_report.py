"""monitor(): windows, references, prediction drift, snapshots, history, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
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
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = (X["a"] > 0).astype(int)
    with nbmlops.start_run("train") as run:
        nbmlops.log_dataset(X, "X_train")
        nbmlops.log_model(LogisticRegression().fit(X, y), input_example=X)
    return nbmlops.register_model("m", run=run).ref


def _log(ref: str, frame: pd.DataFrame, labels: list[int] | None, latency: float,
         at: float | None = None, preds: list[int] | None = None) -> str:
    name, version = ref.split("/")
    if preds is None:
        preds = nbmlops.load_model(ref).predict(frame).tolist()
    rid = uuid.uuid4().hex
    store = serving_store()
    store.add_predictions([{
        "request_id": rid, "model": name, "version": int(version), "at": at or time.time(),
        "n_rows": len(frame), "inputs": frame.to_dict(orient="list"),
        "outputs": {"predictions": preds}, "latency_ms": latency,
        "endpoint": "invocations",
    }])
    if labels is not None:
        store.add_feedback([{"request_id": rid, "model": name, "label": labels,
                             "at": time.time()}])
    return rid


def _frame(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(shift, size=n), "b": rng.normal(size=n)})


def test_no_traffic_is_reported_not_an_error(version: str) -> None:
    report = nbmlops.monitor(version, window="1h")
    assert report.requests == 0 and report.drift is None and report.drift_share is None
    assert "no served traffic" in report.notes[0]


def test_drift_latency_accuracy_and_prediction_drift(version: str) -> None:
    same = _frame(1, 300)
    _log(version, same, labels=(same["a"] > 0).astype(int).tolist(), latency=1.0)
    report = nbmlops.monitor(version)
    assert report.requests == 1 and report.rows == 300
    assert report.drifted_columns == [] and report.drift_share == 0.0
    assert report.accuracy is not None and report.accuracy > 0.9
    assert report.latency_ms["p50"] == pytest.approx(1.0)
    assert "X_train" in (report.reference or "")

    _log(version, _frame(2, 300, shift=2.0), labels=None, latency=3.0)
    report = nbmlops.monitor(version, reference=_frame(0, 600))
    assert report.drifted_columns == ["a", "prediction"]  # the outputs moved with a
    assert report.drift_share == pytest.approx(0.5)  # prediction is not a feature
    html = report._repr_html_()
    assert "data:image/png;base64," in html and "<svg" not in html


def test_window_start_end_and_history(version: str) -> None:
    old = time.time() - 7200
    _log(version, _frame(3, 300, shift=2.0), labels=None, latency=2.0, at=old)
    _log(version, _frame(4, 300), labels=None, latency=2.0)
    # the earlier (shifted) traffic is the prediction baseline of a window after it: the
    # inputs match the training data again, and the outputs moved back
    assert nbmlops.monitor(version, window="1h").drifted_columns == ["prediction"]
    early = nbmlops.monitor(version, start=old - 1, end=old + 1)
    assert early.requests == 1 and early.drifted_columns == ["a"]
    history = nbmlops.monitor_history(version, bucket="1h")
    assert list(history.columns[:5]) == ["time", "version", "requests", "rows", "drift_share"]
    assert len(history) >= 1 and history["drift_share"].notna().all()


def test_features_missing_fewer_rows_and_unknown_labels(version: str) -> None:
    _log(version, _frame(5, 150)[["a"]].assign(b=np.nan), labels=None, latency=1.0,
         preds=[0] * 150)
    _log(version, _frame(5, 150)[["a"]], labels=None, latency=1.0, preds=[0] * 150)
    serving_store().add_feedback([{"request_id": "nope", "model": "m", "label": [1],
                                   "at": time.time()}])
    report = nbmlops.monitor(version)
    t = report.drift.set_index("column")
    assert t.loc["b", "verdict"] == "not enough data"
    assert "missing rate 0.0% -> 100.0%" in t.loc["b", "note"]
    report = nbmlops.monitor(version, min_rows=1000)
    assert set(report.drift["verdict"]) == {"not enough data"}
    assert report.unmatched_labels == 1 and any("not joined" in n for n in report.notes)


def test_bad_inputs_leave_no_snapshot(version: str) -> None:
    from nbmlops.store.monitoring import monitoring_store

    with pytest.raises(ModelNotFound):
        nbmlops.monitor("nope@production")
    with pytest.raises(ValidationError, match="window 'soon' must be a number of seconds"):
        nbmlops.monitor(version, window="soon")
    with pytest.raises(ValidationError, match="window must be positive"):
        nbmlops.monitor(version, window=-1)
    with pytest.raises(ValidationError, match="start .* must be before end"):
        nbmlops.monitor(version, start=10, end=5)
    with pytest.raises(ValidationError, match="reference 42 must be 'training'"):
        nbmlops.monitor(version, reference=42)
    with pytest.raises(ValidationError, match="no drift reference is stored for dataset"):
        nbmlops.monitor(version, reference="deadbeefdeadbeef")
    with pytest.raises(ValidationError, match="alpha must be between 0 and 1"):
        _log(version, _frame(6, 10), labels=None, latency=1.0)
        nbmlops.monitor(version, alpha=5)
    assert monitoring_store().snapshots("m") == []


def test_cli_monitor(version: str) -> None:
    _log(version, _frame(7, 200, shift=3.0), labels=None, latency=2.0)
    out = subprocess.run([sys.executable, "-m", "nbmlops", "monitor", version, "--format", "json"],
                         capture_output=True, text=True, check=True)
    body = json.loads(out.stdout)
    assert body["requests"] == 1 and body["drifted_columns"] == ["a"]
    assert body["thresholds"]["alpha"] == 0.05
    bad = subprocess.run([sys.executable, "-m", "nbmlops", "monitor", "m@nowhere"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "m@nowhere" in bad.stderr
