"""``%deploy`` in a real InteractiveShell: start, list, stop, rollback, dry run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from IPython.core.error import UsageError

from tests.serving.conftest import make_data, register


def test_deploy_list_stop_and_rollback(ip: Any, churn: str) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from nbmlops.registry.aliases import set_alias

    v2 = register("churn", DecisionTreeClassifier(max_depth=2), alias=None)
    set_alias("churn", "production", v2)
    view = ip.run_line_magic("deploy", "churn@production --name churn-nb")
    dep = view.deployment
    try:
        assert "curl -s" in view.curl and f"{dep.url}/invocations" in view.curl
        assert '"age":' in view.curl and "httpx.post" in view.python
        ns: dict[str, Any] = {}
        exec(view.python, ns)  # the shown Python call works as printed
        assert httpx.get(f"{dep.url}/health").json()["version"] == 2
        listed = ip.run_line_magic("deploy", "--list")
        assert listed["name"].tolist() == ["churn-nb"] and listed["status"].tolist() == ["running"]
        mv = ip.run_line_magic("deploy", "--rollback churn")
        assert mv.version == 1
        ip.run_line_magic("deploy", "--stop churn-nb")
        assert ip.run_line_magic("deploy", "--list").empty
        assert dep.status == "stopped"  # not "dead": it was stopped through another object
    finally:
        dep.stop()
    with pytest.raises(UsageError, match="no running deployment 'churn-nb'"):
        ip.run_line_magic("deploy", "--stop churn-nb")
    with pytest.raises(UsageError, match="churn has aliases production"):
        ip.run_line_magic("deploy", "churn@canary")


def test_dry_run_finds_a_preprocessing_step_missing_from_the_registered_model(
        ip: Any, churn: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    report = ip.run_line_magic("deploy", "churn@production --dry-run")
    assert report.ok and report.rows_checked == 205
    assert {"parse", "predict", "serialize", "total"} <= set(report.latency_ms)
    assert "OK, predictions equal on 205 rows" in str(report)
    frame, y = make_data()
    ip.user_ns["kernel_model"] = make_pipeline(StandardScaler(),
                                               LogisticRegression(C=0.001)).fit(frame, y)
    ip.user_ns["frame"] = frame
    report = ip.run_line_magic("deploy", "churn@production --dry-run --model kernel_model "
                                         "--data frame")
    assert not report.ok and "MISMATCH" in str(report)
    assert report.rows_checked == 305
