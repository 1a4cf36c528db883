"""The loop end to end through a real `nbmlops serve` process: traffic -> verdicts -> alerts
-> a real retraining pipeline run linked from the event; /metrics gauges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import nbmlops
from tests.conftest import wait_until
from tests.monitoring.test_alerts import _write_pipeline
from tests.serving.conftest import free_port, make_data, register, start_serve, stop, wait_http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    from nbmlops import store

    home = tmp_path_factory.mktemp("monitor-live") / ".nbmlops"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NBMLOPS_HOME", str(home))
        store.reset()
        register("churn", LogisticRegression(max_iter=500), frame=make_data(600)[0],
                 y=make_data(600)[1])
        store.reset()
    port = free_port()
    proc = start_serve(["churn@production", "--port", str(port)], home)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v2/health/ready", proc)
    yield {"url": url, "home": home}
    stop(proc)


@pytest.fixture
def live(server: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Point this test's store at the server's, and leave no rule behind."""
    from nbmlops import store

    monkeypatch.setenv("NBMLOPS_HOME", str(server["home"]))
    store.reset()
    yield server
    for rule_id in nbmlops.alert_rules()["id"]:
        nbmlops.remove_alert_rule(rule_id)
    store.reset()


def _send(url: str, frame: pd.DataFrame, batch: int = 100) -> list[tuple[str, list[Any]]]:
    """POST the frame in batches; return (request id, predictions) per request."""
    out = []
    for start in range(0, len(frame), batch):
        part = frame.iloc[start:start + batch]
        r = httpx.post(f"{url}/invocations", timeout=30,
                       json={"dataframe_split": part.to_dict(orient="split", index=False)})
        r.raise_for_status()
        out.append((r.headers["X-Request-Id"], r.json()["predictions"]))
    return out


def _wait_logged(requests: int, timeout: float = 30) -> None:
    """Wait until the service has flushed ``requests`` logged requests to the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if nbmlops.monitor("churn@production", snapshot=False).requests >= requests:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {requests} requests logged after {timeout}s")


def test_1_no_shift_no_alert(live: dict[str, Any]) -> None:
    _send(live["url"], make_data(400, seed=1)[0])
    _wait_logged(4)
    nbmlops.add_alert_rule("churn@production", "drift_share", ">", 0.2)
    assert nbmlops.check_alerts() == []
    report = nbmlops.monitor("churn@production", window="1h")
    assert report.drifted_columns == [] and report.drift_share == 0.0


def test_2_one_shifted_feature_flagged_and_drift_share_fires(live: dict[str, Any]) -> None:
    frame = make_data(400, seed=2)[0]
    frame["income"] = frame["income"] + 20_000.0
    _send(live["url"], frame)
    _wait_logged(8)
    nbmlops.add_alert_rule("churn@production", "drift_share", ">", 0.2)
    [event] = nbmlops.check_alerts()
    assert event["rule"] == "drift_share > 0.2" and event["value"] == pytest.approx(0.25)
    report = nbmlops.monitor("churn@production", window="1h")
    assert report.drifted_columns == ["income"]
    # the serving process exports the stored verdicts (refreshed within its 5 s cache)
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{live['url']}/metrics", timeout=5).text
        if ('nbmlops_alert_active{rule="drift_share > 0.2"} 1.0' in text
                and "nbmlops_drift_share 0.25" in text):
            break
        time.sleep(0.5)
    assert "nbmlops_drift_share 0.25" in text
    assert 'nbmlops_alert_active{rule="drift_share > 0.2"} 1.0' in text


def test_3_degraded_model_accuracy_rule_starts_a_real_pipeline(
        live: dict[str, Any], tmp_path: Path) -> None:
    spec, nb = tmp_path / "retrain.yaml", tmp_path / "retrain.ipynb"
    _write_pipeline(spec, nb, "import nbmlops\nnbmlops.output('retrained_for', model)")
    rule = nbmlops.add_alert_rule("churn@production", "accuracy", "<", 0.6, min_rows=100,
                                  on_alert=str(spec))
    sent = _send(live["url"], make_data(200, seed=3)[0])
    for rid, preds in sent:  # ground truth disagrees with the model: it has degraded
        r = httpx.post(f"{live['url']}/feedback", timeout=30,
                       json={"request_id": rid, "label": [1 - p for p in preds]})
        assert r.status_code < 300, r.text
    wait_until(lambda: nbmlops.monitor("churn@production", snapshot=False).labelled_rows >= 200,
               "feedback flushed to the store", timeout=30, interval=0.2)
    fired = [e for e in nbmlops.check_alerts() if e["rule_id"] == rule["id"]]
    assert len(fired) == 1 and fired[0]["value"] < 0.6
    [started] = fired[0]["pipeline_runs"]
    assert started["status"] == "ok", started
    run = nbmlops.get_run(started["run_id"])
    assert run.tags.get("nbmlops.alert_rule") == rule["id"]
    assert run.params.get("model") == "churn@production"  # the pipeline declares `model`
    events = nbmlops.alerts("churn@production")
    linked = events[events["rule_id"] == rule["id"]]
    assert list(linked["pipeline_run"]) == [started["run_id"]]
    assert nbmlops.get_model_version("churn@production").version == 1  # nothing promoted
