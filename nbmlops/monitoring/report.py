"""Monitoring of a registered model from its served traffic: volume, latency, drift, accuracy.

``monitor(ref)`` reads the version's prediction logs in a window, tests the inputs and
the model's outputs for drift against a reference (``drift()``), scores live accuracy
from feedback, and stores a snapshot so ``monitor_history(ref)`` can chart the trend.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.monitoring.drift import DriftReport
    from nbmlops.monitoring.reference import DriftReference

PREDICTION = "prediction"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PREDICT_ENDPOINTS = ("/invocations", "/v2/models/infer")


@dataclass(frozen=True)
class MonitoringReport:
    """What the served traffic of a model version says about it."""

    model: str
    version: int
    requests: int
    rows: int
    latency_ms: dict[str, float]
    drift_report: DriftReport | None
    reference: str | None
    accuracy: float | None
    labelled_rows: int
    window_s: float | None
    start: float | None = None
    end: float | None = None
    error_rate: float | None = None
    unmatched_labels: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        """Return the input columns (and ``prediction``) whose verdict is drift."""
        return [] if self.drift_report is None else self.drift_report.drifted_columns

    @property
    def drift_share(self) -> float | None:
        """Return the share of tested input columns that drift (None if nothing was tested)."""
        return None if self.drift_report is None else self.drift_report.share_drifted

    @property
    def drift(self) -> pd.DataFrame | None:
        """Return the per-column drift table (None without traffic or reference)."""
        return None if self.drift_report is None else self.drift_report.table

    def metric(self, name: str) -> float | None:
        """Return an alertable metric's value, or None when it cannot be computed.

        ``name`` is drift_share, accuracy, latency_p95_ms, error_rate, or
        ``drift:<column>`` (the column's effect size when it drifts, else 0).
        """
        if name.startswith("drift:"):
            if self.drift_report is None:
                return None
            t = self.drift_report.table.set_index("column")
            col = name.split(":", 1)[1]
            if col not in t.index or t.loc[col, "verdict"] not in ("drift", "no drift"):
                return None
            return float(t.loc[col, "effect"]) if t.loc[col, "verdict"] == "drift" else 0.0
        values: dict[str, float | None] = {
            "drift_share": self.drift_share, "accuracy": self.accuracy,
            "latency_p95_ms": self.latency_ms.get("p95"), "error_rate": self.error_rate}
        return values.get(name)

    def _repr_html_(self) -> str:
        from nbmlops.monitoring.plots import drift_table_html, histograms_png, history_png

        lat = ", ".join(f"{k} {v:.2f} ms" for k, v in self.latency_ms.items()) or "n/a"
        acc = (f"{self.accuracy:.3f} on {self.labelled_rows} labelled rows"
               if self.accuracy is not None else "no feedback yet")
        err = "n/a" if self.error_rate is None else f"{self.error_rate:.2%}"
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        body = "<i>no drift verdicts</i>"
        if self.drift_report is not None:
            share = self.drift_share
            body = (f"<div>Drift vs {escape(self.reference or 'n/a')}: "
                    f"{escape(', '.join(self.drifted_columns) or 'none')} "
                    f"(share {'n/a' if share is None else f'{share:.0%}'})</div>"
                    f"{histograms_png(self.drift_report)}"
                    f"{drift_table_html(self.drift_report)}")
        history = history_png(monitor_history(f"{self.model}/{self.version}"))
        return (f"<div class='nbmlops-monitor'><b>{escape(self.model)}/{self.version}</b> · "
                f"{self.requests} requests, {self.rows} rows · latency {escape(lat)} · "
                f"live accuracy {escape(acc)} · error rate {err}{body}"
                f"{history}<ul>{notes}</ul></div>")


def parse_window(window: str | float | int) -> float:
    """Return a window (``"90s"``, ``"30m"``, ``"1h"``, ``"2d"`` or seconds) in seconds."""
    if isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(window))
        if m is None:
            raise ValidationError(f"window {window!r} must be a number of seconds or a "
                                  "duration like '90s', '30m', '1h', '2d'")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not seconds > 0:
        raise ValidationError(f"window must be positive, got {window!r}")
    return seconds


def _epoch(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{what} {value!r} is not an ISO time or epoch seconds") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return float(value.timestamp())
    raise ValidationError(f"{what} must be a datetime, ISO string or epoch seconds, "
                          f"not {type(value).__name__}")


def _training_reference(mv: Any) -> tuple[DriftReference | None, str | None]:
    """Return the stored drift reference of a version's training data and a label naming it.

    Candidates are the run's input datasets holding every signature column; one whose
    name says "train" wins, then the one with the most rows (test splits are smaller).
    """
    from dataclasses import replace

    from nbmlops.monitoring.reference import load_reference
    from nbmlops.tracking.api import get_run

    wanted = set((mv.signature or {}).get("columns") or [])
    candidates = [ds for ds in get_run(mv.run_id).datasets
                  if ds.role == "input" and ds.kind == "dataframe" and wanted <= set(ds.columns)]
    for ds in sorted(candidates, key=lambda d: ("train" in d.name.lower(), d.shape[0]),
                     reverse=True):
        label = f"{ds.name} ({ds.fingerprint[:12]})"
        ref = load_reference(ds.fingerprint, label)
        if ref is not None:
            cols = {c: e for c, e in ref.columns.items() if not wanted or c in wanted}
            return replace(ref, columns=cols), label
    return None, None


def _resolve_reference(reference: Any, mv: Any) -> tuple[DriftReference | None, str | None]:
    import pandas as pd

    from nbmlops.monitoring.reference import DriftReference, drift_reference, load_reference

    if isinstance(reference, str) and reference == "training":
        return _training_reference(mv)
    if isinstance(reference, pd.DataFrame):
        return drift_reference(reference, name="given DataFrame"), "given DataFrame"
    if isinstance(reference, DriftReference):
        return reference, reference.name or "given reference"
    if isinstance(reference, str) and re.fullmatch(r"[0-9a-f]{8,64}", reference):
        ref = load_reference(reference, f"dataset {reference[:12]}")
        if ref is None:
            raise ValidationError(f"no drift reference is stored for dataset {reference!r} "
                                  "(log the DataFrame with log_dataset or %%track first)")
        return ref, f"dataset {reference[:12]}"
    raise ValidationError(f"reference {reference!r} must be 'training', a DataFrame, "
                          "nbmlops.drift_reference(df) or a dataset fingerprint")


def _latency(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {}
    q = np.percentile(values, [50, 95, 99])
    return {"p50": float(q[0]), "p95": float(q[1]), "p99": float(q[2])}


def _accuracy(logs: list[dict[str, Any]]) -> tuple[float | None, int]:
    hits = total = 0
    for log in logs:
        label = log.get("label")
        preds = (log.get("outputs") or {}).get("predictions")
        if label is None or preds is None:
            continue
        labels = label if isinstance(label, list) else [label]
        for p, y in zip(preds, labels, strict=False):  # a short label list scores a prefix
            total += 1
            hits += int(p == y)
    return (hits / total if total else None), total


def _predictions(logs: list[dict[str, Any]]) -> pd.Series:
    """Return the model outputs of logged requests (scalar predictions only)."""
    import pandas as pd

    values: list[Any] = []
    for log in logs:
        preds = (log.get("outputs") or {}).get("predictions")
        if isinstance(preds, list):
            values.extend(p for p in preds if not isinstance(p, (list, dict)))
    s: pd.Series = pd.Series(values)
    if s.dtype.kind in "iub" or (s.dtype.kind == "f" and s.nunique() <= 20):
        s = s.astype(str)  # class labels: compared as categories
    return s


def _frame(logs: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    frames = [pd.DataFrame(log["inputs"]) for log in logs if log.get("inputs")]
    out: pd.DataFrame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out


def error_rate(model: str) -> float | None:
    """Return the share of failed prediction requests on the model's running deployments.

    Read from each live service's ``/metrics`` (counts since it started); None when no
    deployment of the model is running or none answered.
    """
    import os

    import httpx

    from nbmlops.store.serving import serving_store

    token = os.environ.get("NBMLOPS_SERVE_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ok = bad = 0.0
    answered = False
    for dep in serving_store().list_deployments(active_only=True):
        if dep["model"] != model:
            continue
        try:
            text = httpx.get(f"{dep['url']}/metrics", headers=headers, timeout=2).text
        except httpx.HTTPError:
            continue
        answered = True
        for line in text.splitlines():
            m = re.match(r'nbmlops_requests_total\{endpoint="([^"]*)",status="(\d+)"\} (\S+)',
                         line)
            if m and m.group(1) in _PREDICT_ENDPOINTS:
                n = float(m.group(3))
                ok, bad = (ok + n, bad) if m.group(2).startswith("2") else (ok, bad + n)
    return bad / (ok + bad) if answered and ok + bad else None


def monitor(ref: str, *, window: str | float | None = None, start: Any = None,
            end: Any = None, reference: Any = "training", since: float | None = None,
            window_s: float | None = None, limit: int | None = 100_000,
            snapshot: bool = True, **drift_args: Any) -> MonitoringReport:
    """Return the monitoring report of ``ref`` (``name@alias``/``name/3``) from logged traffic.

    Parameters
    ----------
    ref : str
        The model version.
    window : str or float, optional
        The last ``"1h"`` (or seconds) of traffic; all of it by default.
    start, end : optional
        Datetimes, ISO strings or epoch seconds bounding the traffic instead of ``window``.
    reference : object
        ``"training"`` (the stored reference of the training data), a DataFrame,
        ``drift_reference(df)`` or a dataset fingerprint.
    since, window_s : float, optional
        Older spellings of ``start`` and ``window``.
    limit : int, optional
        At most this many logged requests are read.
    snapshot : bool
        Store the report for :func:`monitor_history`.
    **drift_args
        Passed to :func:`nbmlops.drift` (``alpha``, ``min_rows``, ...).

    Returns
    -------
    MonitoringReport
        Traffic, latency, error rate, drift (input and prediction) and live accuracy.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    ValidationError
        Both ``window`` and ``start``, ``start`` after ``end``, an unreadable time or window,
        or a ``reference`` that is none of the accepted kinds.
    """
    from nbmlops.registry.versions import get_model_version
    from nbmlops.store.serving import serving_store

    window = window if window is not None else window_s
    end_t = _epoch(end, "end")
    start_t = _epoch(start if start is not None else since, "start")
    if window is not None:
        if start_t is not None:
            raise ValidationError("give window or start, not both")
        start_t = (end_t or time.time()) - parse_window(window)
    if start_t is not None and end_t is not None and start_t >= end_t:
        raise ValidationError(f"start ({start_t}) must be before end ({end_t})")
    mv = get_model_version(ref)
    logs = serving_store().predictions(mv.name, version=mv.version, limit=limit)
    inside = [g for g in logs if (start_t is None or g["at"] >= start_t)
              and (end_t is None or g["at"] < end_t)]
    baseline = [g for g in logs if start_t is not None and g["at"] < start_t]
    ref_obj, ref_name = _resolve_reference(reference, mv)
    report = _build(mv, inside, baseline, ref_obj, ref_name, reference, drift_args,
                    start_t, end_t, window)
    if snapshot:
        _store_snapshot(report)
    return report


def _prediction_reference(reference: Any, mv: Any, baseline: list[dict[str, Any]],
                          min_rows: int) -> tuple[Any, str | None]:
    """Return a reference for the model's outputs, or (None, why not)."""
    import pandas as pd

    from nbmlops.monitoring.reference import drift_reference

    if isinstance(reference, pd.DataFrame):
        from nbmlops.registry.versions import load_model

        cols = (mv.signature or {}).get("columns") or list(reference.columns)
        preds = pd.Series(load_model(mv.ref).predict(reference[cols]))
        if preds.dtype.kind in "iub":
            preds = preds.astype(str)
        return drift_reference(preds.to_frame(PREDICTION)).columns[PREDICTION], None
    base = _predictions(baseline)
    if len(base) >= min_rows:
        return drift_reference(base.to_frame(PREDICTION)).columns[PREDICTION], None
    return None, ("no prediction reference: give reference=DataFrame, or a start= with "
                  f"at least {min_rows} earlier predictions as the baseline")


def _build(mv: Any, logs: list[dict[str, Any]], baseline: list[dict[str, Any]],
           ref_obj: DriftReference | None, ref_name: str | None, reference: Any,
           drift_args: dict[str, Any], start: float | None, end: float | None,
           window: Any) -> MonitoringReport:
    from dataclasses import replace

    from nbmlops.monitoring.drift import drift
    from nbmlops.store.monitoring import monitoring_store

    notes: list[str] = []
    live = _frame(logs)
    report = None
    if not logs:
        notes.append("no served traffic logged for this version in the window")
    elif ref_obj is None:
        notes.append("the training run logged no DataFrame with the model's columns; "
                     "no drift reference (give reference=DataFrame)")
    else:
        pred_ref, why = _prediction_reference(reference, mv, baseline,
                                              int(drift_args.get("min_rows", 100)))
        if pred_ref is not None:
            ref_obj = replace(ref_obj, columns={**ref_obj.columns, PREDICTION: pred_ref})
            live[PREDICTION] = _predictions(logs).reset_index(drop=True)
        elif why:
            notes.append(why)
        missing = [c for c in ref_obj.columns if c not in live.columns]
        if missing:
            notes.append(f"features missing from the logged inputs: {', '.join(missing)}")
        report = drift(ref_obj, live, **drift_args)
    accuracy, labelled = _accuracy(logs)
    unmatched = monitoring_store().orphan_feedback(mv.name, since=start)
    if unmatched:
        notes.append(f"{unmatched} feedback rows name request ids with no logged prediction "
                     "(not joined)")
    return MonitoringReport(
        model=mv.name, version=mv.version, requests=len(logs),
        rows=int(sum(g.get("n_rows") or 0 for g in logs)),
        latency_ms=_latency([g["latency_ms"] for g in logs]), drift_report=report,
        reference=ref_name, accuracy=accuracy, labelled_rows=labelled,
        window_s=parse_window(window) if window is not None else None, start=start, end=end,
        error_rate=error_rate(mv.name), unmatched_labels=unmatched, notes=notes)


def _store_snapshot(report: MonitoringReport) -> None:
    from nbmlops.store.monitoring import monitoring_store

    drift: dict[str, Any] = {}
    if report.drift_report is not None:
        for r in report.drift_report.table.itertuples():
            drift[str(r.column)] = {"verdict": r.verdict, "effect": r.effect,
                                    "p_adjusted": r.p_adjusted}
    monitoring_store().add_snapshot({
        "model": report.model, "version": report.version, "at": time.time(),
        "window_start": report.start, "window_end": report.end, "requests": report.requests,
        "rows": report.rows, "drift_share": report.drift_share, "accuracy": report.accuracy,
        "latency_p95_ms": report.latency_ms.get("p95"), "error_rate": report.error_rate,
        "drift": drift})


def monitor_history(ref: str, *, bucket: str | float = "1h") -> pd.DataFrame:
    """Return stored monitoring snapshots per time bucket (the last snapshot of each).

    Parameters
    ----------
    ref : str
        The model, or one version of it (``name/3``, ``name@alias``).
    bucket : str or float
        The bucket width: ``"1h"``, ``"1d"`` or seconds.

    Returns
    -------
    pandas.DataFrame
        time, version, requests, rows, drift_share, accuracy, latency_p95_ms, error_rate,
        drifted (the drifting columns); empty when nothing was stored.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    ValidationError
        ``bucket`` is not a window.
    """
    import pandas as pd

    from nbmlops.store.monitoring import monitoring_store

    seconds = parse_window(bucket)
    name, version = _model_and_version(ref)
    rows = monitoring_store().snapshots(name, version)
    cols = ["time", "version", "requests", "rows", "drift_share", "accuracy",
            "latency_p95_ms", "error_rate", "drifted"]
    if not rows:
        empty: pd.DataFrame = pd.DataFrame(columns=cols)
        return empty
    frame = pd.DataFrame([{
        "bucket": int(r["at"] // seconds), "version": r["version"], "requests": r["requests"],
        "rows": r["rows"], "drift_share": r["drift_share"], "accuracy": r["accuracy"],
        "latency_p95_ms": r["latency_p95_ms"], "error_rate": r["error_rate"],
        "drifted": sorted(c for c, v in r["drift"].items() if v.get("verdict") == "drift"),
    } for r in rows])
    last = frame.groupby("bucket", as_index=False).last()
    last.insert(0, "time", pd.to_datetime(last["bucket"] * seconds, unit="s", utc=True))
    out: pd.DataFrame = last[cols].reset_index(drop=True)
    return out


def _model_and_version(ref: str) -> tuple[str, int | None]:
    """Return (model name, version; None for a bare name: every version) of a ref."""
    from nbmlops.registry.versions import get_model_version

    mv = get_model_version(ref)  # raises for an unknown model
    return mv.name, (mv.version if ("@" in ref or "/" in ref) else None)
