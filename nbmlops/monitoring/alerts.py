"""Alert rules on monitoring metrics: stored per model, evaluated now or by the scheduler.

A rule (``drift_share > 0.3`` on ``churn@production``) fires once when its value first
breaches, stores an event, and starts its own ``on_alert`` pipeline plus every schedule
registered with ``nbmlops schedule add --on-alert MODEL``; the event records those
pipeline runs. It fires again only after the value has returned (the rule cleared).
A retrained model is registered by the pipeline like any other version: promotion still
goes through ``%%modeltest`` gates, so nothing here moves an alias.
"""

from __future__ import annotations

import functools
import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nbmlops.errors import NbmlopsError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.monitoring.report import MonitoringReport

log = logging.getLogger("nbmlops.monitoring")
METRICS = ("drift_share", "accuracy", "latency_p95_ms", "error_rate")
OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}
EVENT_COLUMNS = ["time", "model", "version", "rule", "value", "threshold", "pipeline_run",
                 "status", "cleared", "rule_id", "event_id"]


def _check_metric(metric: str, mv: Any) -> None:
    if metric in METRICS:
        return
    if isinstance(metric, str) and metric.startswith("drift:") and len(metric) > 6:
        col = metric[6:]
        cols = (mv.signature or {}).get("columns") or []
        if cols and col not in cols and col != "prediction":
            raise ValidationError(f"metric {metric!r} names column {col!r}, which model "
                                  f"{mv.name} does not take; its columns: {', '.join(cols)}")
        return
    raise ValidationError(f"unknown alert metric {metric!r}; use one of "
                          f"{', '.join(METRICS)} or drift:<column>")


def _check_pipeline(on_alert: str | None) -> str | None:
    if on_alert is None:
        return None
    from nbmlops.pipelines.spec import load_spec

    return str(load_spec(on_alert).path)


def add_alert_rule(ref: str, metric: str, op: str, threshold: float, *, min_rows: int = 100,
                   window: str | float = "1h", on_alert: str | None = None) -> dict[str, Any]:
    """Store an alert rule on ``ref`` (``name@alias``/``name/3``) and return it.

    Parameters
    ----------
    ref : str
        The model version the rule watches.
    metric : str
        ``drift_share``, ``accuracy``, ``latency_p95_ms``, ``error_rate`` or
        ``drift:<column>`` (the column's effect size while it drifts, else 0).
    op : str
        The comparison that fires the rule, e.g. ``">"``.
    threshold : float
        A finite number.
    min_rows : int
        The rule is evaluated once the window holds this many rows (labelled rows for
        accuracy).
    window : str or float
        The traffic evaluated: ``"1h"``, ``"30m"`` or seconds.
    on_alert : str, optional
        A pipeline.yaml run when the rule fires.

    Returns
    -------
    dict
        The stored rule, with its ``id``.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    ValidationError
        An unknown metric or operator, a threshold that is not a finite number, or a bad
        ``min_rows`` or ``window``.
    SpecError
        The ``on_alert`` pipeline.yaml does not load.
    """
    from nbmlops.monitoring.report import parse_window
    from nbmlops.registry.versions import get_model_version
    from nbmlops.store.monitoring import monitoring_store

    mv = get_model_version(ref)  # unknown model or alias: ModelNotFound
    _check_metric(metric, mv)
    if op not in OPS:
        raise ValidationError(f"operator {op!r} must be one of {', '.join(OPS)}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not math.isfinite(threshold):
        raise ValidationError(f"threshold must be a finite number, got {threshold!r}")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValidationError(f"min_rows must be a positive integer, got {min_rows!r}")
    row = {"id": uuid.uuid4().hex, "model": mv.name, "ref": ref, "metric": metric, "op": op,
           "threshold": float(threshold), "min_rows": min_rows,
           "window_s": parse_window(window), "on_alert": _check_pipeline(on_alert),
           "firing": False, "created_at": time.time()}
    monitoring_store().add_rule(row)
    return row


def alert_rules(ref: str | None = None) -> pd.DataFrame:
    """Return the alert rules (of one model) as a DataFrame, oldest first.

    Parameters
    ----------
    ref : str, optional
        Only rules of this model (``name``, ``name@alias`` or ``name/3``).

    Returns
    -------
    pandas.DataFrame
        One row per rule: id, model, ref, metric, op, threshold, min_rows, window_s,
        on_alert, firing, last_value, last_checked_at, created_at.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    """
    import pandas as pd

    from nbmlops.store.monitoring import monitoring_store

    rows = monitoring_store().rules(_model_name(ref))
    cols = ["id", "model", "ref", "metric", "op", "threshold", "min_rows", "window_s",
            "on_alert", "firing", "last_value", "last_checked_at", "created_at"]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=cols)
    return frame


def remove_alert_rule(rule_id: str) -> None:
    """Delete an alert rule (its past events stay).

    Parameters
    ----------
    rule_id : str
        The rule's ``id``.

    Raises
    ------
    AlertRuleNotFound
        No rule has this id.
    """
    from nbmlops.store.monitoring import monitoring_store

    monitoring_store().remove_rule(rule_id)


def _model_name(ref: str | None) -> str | None:
    if ref is None:
        return None
    from nbmlops.registry.versions import get_model_version

    return get_model_version(ref).name


def _rule_text(rule: dict[str, Any]) -> str:
    return f"{rule['metric']} {rule['op']} {rule['threshold']:g}"


def _rows_for(rule: dict[str, Any], report: MonitoringReport) -> int:
    return report.labelled_rows if rule["metric"] == "accuracy" else report.rows


def _run_pipelines(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """Start the rule's own pipeline and the --on-alert schedules; return what happened."""
    from nbmlops.pipelines.runner import run_pipeline
    from nbmlops.pipelines.schedules import execute_schedule, list_schedules
    from nbmlops.pipelines.spec import load_spec

    out: list[dict[str, Any]] = []
    jobs: list[tuple[str, Callable[[], Any]]] = []
    if rule["on_alert"]:
        def own() -> Any:
            spec = load_spec(rule["on_alert"])
            params = {"model": rule["ref"]} if "model" in spec.params else {}
            return run_pipeline(spec, params=params, progress=False,
                                tags={"nbmlops.alert_rule": rule["id"]})
        jobs.append((str(rule["on_alert"]), own))
    for sched in list_schedules():
        if sched["on_alert"] == rule["model"] and not sched["paused"]:
            jobs.append((f"schedule {sched['name']}",
                         functools.partial(execute_schedule, sched["name"], progress=False)))
    for name, job in jobs:
        try:
            result = job()
            out.append({"pipeline": name, "run_id": result.run_id,
                        "status": "ok" if result.ok else "failed",
                        "error": None if result.ok else "; ".join(
                            f"step {s.name} failed" for s in result.failed)})
        except Exception as exc:  # a failing retraining pipeline is recorded, not raised
            out.append({"pipeline": name, "run_id": None, "status": "error",
                        "error": f"{type(exc).__name__}: {exc}"})
    return out


def _evaluate(rule: dict[str, Any], report: MonitoringReport, now: float) -> dict[str, Any] | None:
    """Fire or clear one rule on a report; return the fired event, if any."""
    from nbmlops.store.monitoring import monitoring_store

    store = monitoring_store()
    value = report.metric(rule["metric"])
    if value is None or _rows_for(rule, report) < rule["min_rows"]:
        store.record_check(rule["id"], None, now)
        return None  # not enough data: neither a breach nor a recovery
    store.record_check(rule["id"], value, now)
    if not OPS[rule["op"]](value, rule["threshold"]):
        store.clear(rule["id"], now)
        return None
    event = {"id": uuid.uuid4().hex, "rule_id": rule["id"], "model": report.model,
             "version": report.version, "rule": _rule_text(rule), "value": float(value),
             "threshold": rule["threshold"], "at": now, "pipeline_runs": []}
    if not store.fire(rule["id"], event):
        return None  # already firing: once per breach
    event["pipeline_runs"] = _run_pipelines(rule)
    store.set_event_runs(event["id"], event["pipeline_runs"])
    return event


def check_alerts(ref: str | None = None) -> list[dict[str, Any]]:
    """Evaluate the alert rules (of one model, or all) now; return the events that fired.

    A rule whose model or alias no longer exists is skipped with a warning; the others
    are still evaluated.

    Parameters
    ----------
    ref : str, optional
        Only rules of this model.

    Returns
    -------
    list of dict
        The events that fired in this check (a rule fires once per breach).

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    """
    from nbmlops.monitoring.report import monitor
    from nbmlops.store.monitoring import monitoring_store

    rules = monitoring_store().rules(_model_name(ref))
    reports: dict[tuple[str, float], MonitoringReport] = {}
    fired: list[dict[str, Any]] = []
    for rule in rules:
        key = (rule["ref"], rule["window_s"])
        if key not in reports:
            try:
                reports[key] = monitor(rule["ref"], window=rule["window_s"])
            except NbmlopsError as exc:  # e.g. the alias was deleted: skip, keep the others
                log.warning("alert rule %s (%s): cannot evaluate: %s", rule["id"],
                            rule["ref"], exc)
                continue
        event = _evaluate(rule, reports[key], time.time())
        if event is not None:
            fired.append(event)
    return fired


def alerts(ref: str | None = None) -> pd.DataFrame:
    """Return every stored alert event (of one model).

    Parameters
    ----------
    ref : str, optional
        Only events of this model.

    Returns
    -------
    pandas.DataFrame
        time, model, version, rule, value, threshold, pipeline_run (the first run started),
        status, cleared, rule_id, event_id.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    """
    import pandas as pd

    from nbmlops.store.monitoring import monitoring_store

    rows = []
    for e in monitoring_store().events(_model_name(ref)):
        runs = e["pipeline_runs"]
        first = next((r["run_id"] for r in runs if r.get("run_id")), None)
        status = ("no pipeline" if not runs else
                  "ok" if all(r["status"] == "ok" for r in runs) else
                  "; ".join(f"{r['pipeline']}: {r['status']} {r.get('error') or ''}".strip()
                            for r in runs if r["status"] != "ok"))
        rows.append({"time": pd.Timestamp(e["at"], unit="s", tz="UTC"), "model": e["model"],
                     "version": e["version"], "rule": e["rule"], "value": e["value"],
                     "threshold": e["threshold"], "pipeline_run": first, "status": status,
                     "cleared": e["cleared_at"] is not None, "rule_id": e["rule_id"],
                     "event_id": e["id"]})
    frame: pd.DataFrame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return frame
