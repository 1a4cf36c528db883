"""Alert rules: validation, fire once per breach, clear, failed pipelines, CLI, gauges."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import nbmlops
from nbmlops.errors import ModelNotFound, ValidationError
from nbmlops.store.monitoring import monitoring_store
from nbmlops.store.serving import serving_store
from tests.conftest import wait_until


@pytest.fixture()
def ref() -> str:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    with nbmlops.start_run("train") as run:
        nbmlops.log_dataset(X, "X_train")
        nbmlops.log_model(LogisticRegression().fit(X, (X["a"] > 0).astype(int)),
                          input_example=X)
    mv = nbmlops.register_model("m", run=run)
    nbmlops.set_alias("m", "production", mv.version)
    return "m@production"


def _traffic(shift: float, n: int = 300, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(shift, size=n), "b": rng.normal(size=n)})
    serving_store().add_predictions([{
        "request_id": uuid.uuid4().hex, "model": "m", "version": 1, "at": time.time(),
        "n_rows": n, "inputs": frame.to_dict(orient="list"),
        "outputs": {"predictions": [0] * n}, "latency_ms": 1.0, "endpoint": "invocations"}])


def test_bad_rules_are_refused_and_nothing_is_stored(ref: str, tmp_path: Path) -> None:
    cases = [
        (("m@production", "latency", ">", 1), ValidationError,
         "unknown alert metric 'latency'; use one of drift_share, accuracy"),
        (("m@production", "drift:zzz", ">", 0), ValidationError,
         "names column 'zzz', which model m does not take; its columns: a, b"),
        (("m@production", "accuracy", "=>", 0.9), ValidationError,
         "operator '=>' must be one of >, >=, <, <="),
        (("m@production", "accuracy", "<", float("nan")), ValidationError,
         "threshold must be a finite number"),
        (("nope@production", "accuracy", "<", 0.9), ModelNotFound, "nope"),
    ]
    for args, exc, match in cases:
        with pytest.raises(exc, match=match):
            nbmlops.add_alert_rule(*args)
    with pytest.raises(ValidationError, match="min_rows must be a positive integer, got 0"):
        nbmlops.add_alert_rule(ref, "accuracy", "<", 0.9, min_rows=0)
    with pytest.raises(ValidationError, match="window 'later'"):
        nbmlops.add_alert_rule(ref, "accuracy", "<", 0.9, window="later")
    with pytest.raises(Exception, match="missing.yaml"):
        nbmlops.add_alert_rule(ref, "accuracy", "<", 0.9, on_alert=str(tmp_path / "missing.yaml"))
    assert nbmlops.alert_rules().empty
    with pytest.raises(Exception, match="no-such-rule"):
        nbmlops.remove_alert_rule("no-such-rule")


def test_fires_once_per_breach_then_clears_and_fires_again(ref: str) -> None:
    rule = nbmlops.add_alert_rule(ref, "drift_share", ">", 0.3, min_rows=100)
    col = nbmlops.add_alert_rule(ref, "drift:a", ">", 0.0, min_rows=100)
    assert nbmlops.check_alerts() == []  # no traffic: not enough data, nothing fires
    _traffic(shift=1.5)
    fired = nbmlops.check_alerts(ref)
    assert sorted(e["rule"] for e in fired) == ["drift:a > 0", "drift_share > 0.3"]
    assert nbmlops.check_alerts() == []  # still breached: no second event
    rules = nbmlops.alert_rules(ref).set_index("id")
    assert bool(rules.loc[rule["id"], "firing"]) and bool(rules.loc[col["id"], "firing"])
    with monitoring_store().sql._write() as conn:  # the shifted traffic ages out
        conn.exec_driver_sql("UPDATE prediction_logs SET at = at - 7200")
    _traffic(shift=0.0, seed=2)
    assert nbmlops.check_alerts() == []
    assert not nbmlops.alert_rules()["firing"].any()
    events = nbmlops.alerts("m@production")
    assert len(events) == 2 and events["cleared"].all()
    assert list(events.columns[:7]) == ["time", "model", "version", "rule", "value",
                                        "threshold", "pipeline_run"]
    with monitoring_store().sql._write() as conn:
        conn.exec_driver_sql("UPDATE prediction_logs SET at = at - 7200")
    _traffic(shift=1.5, seed=3)
    assert len(nbmlops.check_alerts()) == 2 and len(nbmlops.alerts()) == 4


def test_failing_retraining_pipeline_is_recorded_and_nothing_promoted(
        ref: str, tmp_path: Path) -> None:
    spec = tmp_path / "retrain.yaml"
    nb = tmp_path / "step.ipynb"
    _write_pipeline(spec, nb, "raise RuntimeError('retraining broke')")
    nbmlops.add_alert_rule(ref, "drift_share", ">", 0.3, min_rows=100, on_alert=str(spec))
    _traffic(shift=1.5)
    [event] = nbmlops.check_alerts()
    [run] = event["pipeline_runs"]
    assert run["status"] == "failed" and run["error"] == "step step failed"
    assert nbmlops.get_run(run["run_id"]).status.value == "FAILED"
    row = nbmlops.alerts().iloc[0]
    assert row["pipeline_run"] == run["run_id"] and "failed" in row["status"]
    assert nbmlops.get_model_version("m@production").version == 1
    assert list(nbmlops.list_versions("m")["version"]) == [1]


def test_cli_rules_and_check(ref: str) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nbmlops", "monitor", *args],
                              capture_output=True, text=True)

    added = cli("rules", "add", ref, "drift_share", ">", "0.3", "--min-rows", "100")
    assert added.returncode == 0, added.stderr
    rule_id = added.stdout.split()[2].rstrip(":")
    assert rule_id in cli("rules", "list").stdout
    _traffic(shift=1.5)
    out = cli("check", ref)
    assert out.returncode == 0 and "ALERT m/1: drift_share > 0.3" in out.stdout
    assert "no new alerts" in cli("check").stdout
    bad = cli("rules", "add", ref, "bogus", ">", "1")
    assert bad.returncode == 1 and "unknown alert metric 'bogus'" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert cli("rules", "remove", rule_id).returncode == 0
    assert "no alert rules" in cli("rules", "list").stdout


def test_gauges_bounded_and_cached(ref: str) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from nbmlops.monitoring.exporter import MAX_RULES, MonitoringCollector

    for i in range(MAX_RULES + 5):
        nbmlops.add_alert_rule(ref, "latency_p95_ms", ">", 1000 + i)
    _traffic(shift=1.5)
    nbmlops.monitor(ref)  # stores the snapshot the gauge reads
    registry = CollectorRegistry()
    registry.register(MonitoringCollector("m", lambda: 1))
    text = generate_latest(registry).decode()
    assert "nbmlops_drift_share 0.5" in text
    assert text.count("nbmlops_alert_active{") == MAX_RULES + 1
    assert 'nbmlops_alert_active{rule="other"} 0.0' in text


def _write_pipeline(spec: Path, nb: Path, code: str) -> None:
    import nbformat

    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('model = ""')
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell(code)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                   "language": "python"}
    nbformat.write(book, nb)
    spec.write_text(f"name: retrain\nparams:\n  model: ''\nsteps:\n  step:\n"
                    f"    notebook: {nb.name}\n    parameters: {{model: '${{params.model}}'}}\n")


def test_scheduler_daemon_evaluates_rules_and_runs_on_alert_schedules(
        ref: str, tmp_path: Path) -> None:
    """`nbmlops scheduler` fires rules with no notebook open; an --on-alert schedule whose
    pipeline broke is started and its failure recorded on the event."""
    import os

    from nbmlops.pipelines.schedules import add_schedule

    spec, nb = tmp_path / "retrain.yaml", tmp_path / "step.ipynb"
    _write_pipeline(spec, nb, "print(model)")
    add_schedule(spec, on_alert="m", name="retrain-m")
    spec.unlink()
    nbmlops.add_alert_rule(ref, "drift_share", ">", 0.3)
    _traffic(shift=1.5)
    proc = subprocess.Popen([sys.executable, "-m", "nbmlops", "scheduler", "--run-for", "120",
                             "--alert-interval", "1"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def fired() -> bool:
            assert proc.poll() is None, "the scheduler exited"
            events = nbmlops.alerts()
            return not events.empty and events["status"].iloc[0] != "no pipeline"

        wait_until(fired, "the scheduler to fire the alert", timeout=90, interval=0.3)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    [event] = monitoring_store().events("m")
    [run] = event["pipeline_runs"]
    assert run["pipeline"] == "schedule retrain-m" and run["status"] == "error"
    assert "alert m/1: drift_share > 0.3" in out
    assert "running 0 cron schedule(s), 1 on alerts (rules checked every 1 s)" in out
