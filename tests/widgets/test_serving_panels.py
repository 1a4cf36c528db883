"""Deployments and Monitoring panels on a real model server process (HTTP, real store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.widgets import DeploymentsPanel, MonitoringPanel
from tests.conftest import wait_until


def test_no_deployments_yet() -> None:
    deployments, monitoring = DeploymentsPanel(), MonitoringPanel()
    assert "No running deployments" in deployments.table.value
    assert deployments.stop_button.disabled and deployments.rollback_button.disabled
    assert "Nothing to monitor yet" in monitoring.summary.value
    assert deployments.message.value == monitoring.message.value == ""


@pytest.mark.slow
def test_serve_watch_roll_back_and_stop(churn: Callable[..., Any]) -> None:
    from nbmlops.serving.traffic import request_timeline

    nbmlops.set_alias("churn", "production", 1, reason="first")
    nbmlops.set_alias("churn", "production", 2, reason="second")
    dep = nbmlops.deploy("churn@production", name="churn-web")
    try:
        rng = np.random.default_rng(1)
        for _ in range(4):  # shifted inputs: drift against the training data
            dep.predict(pd.DataFrame({"a": rng.normal(2, 1, 25), "b": rng.normal(size=25)}))
        wait_until(lambda: request_timeline("churn")["requests"].sum() >= 4,
                   "the server to log its predictions")

        panel = DeploymentsPanel()
        other = DeploymentsPanel()  # a second view, open while the first one stops it
        (row,) = panel.rows
        assert row["name"] == "churn-web" and row["health"]["ok"] and row["version"] == 2
        assert row["requests"] >= 4 and row["rate_per_min"] > 0
        assert "churn@production" in panel.table.value and dep.url in panel.table.value
        assert "data:image/png;base64," in panel.table.value  # the request sparkline

        nbmlops.add_alert_rule("churn@production", "latency_p95_ms", ">", 0.0, min_rows=10)
        assert len(nbmlops.check_alerts()) == 1
        monitoring = MonitoringPanel()
        assert monitoring.rules is not None and len(monitoring.rules) == 1
        assert monitoring.alerts is not None and len(monitoring.alerts) == 1
        assert "Alert rules" in monitoring.alerts_html.value
        assert "latency_p95_ms" in monitoring.alerts_html.value and "firing" in \
            monitoring.alerts_html.value
        assert monitoring.deployment.value == "churn@production"
        assert monitoring.report.requests >= 4 and "requests" in monitoring.summary.value
        if monitoring.drift is not None:
            assert bytes(monitoring.drift_chart.value).startswith(b"\x89PNG")
        html = monitoring._repr_mimebundle_()["text/html"]
        assert "churn@production" in html and "<svg" not in html

        panel.rollback_button.click()  # no reason: refused, nothing moved
        assert "a reason is required" in panel.message.value
        assert nbmlops.get_model_version("churn@production").version == 2
        panel.reason.value = "v2 is slow"
        panel.rollback_button.click()
        assert "rolled back to v1" in panel.message.value
        assert nbmlops.get_model_version("churn@production").version == 1

        panel.stop_button.click()
        assert "stopped" in panel.message.value and panel.rows == []
        assert "No running deployments" in panel.table.value
        other.refresh_button.click()
        assert "'churn-web' is no longer running (stopped)" in other.message.value
    finally:
        dep.stop()
