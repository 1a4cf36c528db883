"""Monitoring of a registered model from its served traffic: volume, latency, drift, accuracy."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class MonitoringReport:
    """What the served traffic of a model version says about it."""

    model: str
    version: int
    requests: int
    rows: int
    latency_ms: dict[str, float]
    drift: pd.DataFrame | None
    reference: str | None
    accuracy: float | None
    labelled_rows: int
    window_s: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        """Return the columns whose PSI is above the threshold."""
        if self.drift is None or self.drift.empty:
            return []
        return [str(c) for c in self.drift.loc[self.drift["drift"] == True, "column"]]  # noqa: E712

    def _repr_html_(self) -> str:
        lat = ", ".join(f"{k} {v:.2f} ms" for k, v in self.latency_ms.items()) or "n/a"
        acc = (f"{self.accuracy:.3f} on {self.labelled_rows} labelled rows"
               if self.accuracy is not None else "no feedback yet")
        drift = self.drift.to_html(index=False) if self.drift is not None else "<i>n/a</i>"
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        return (
            f"<div class='nbmlops-monitor'><b>{escape(self.model)}/{self.version}</b> · "
            f"{self.requests} requests, {self.rows} rows · latency {escape(lat)} · "
            f"live accuracy {escape(acc)}<div>Drift vs {escape(self.reference or 'n/a')} "
            f"(PSI):</div>{drift}<ul>{notes}</ul></div>"
        )


def _reference_stats(mv: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Return the statistics of the training data of a version and a label naming it.

    Candidates are the run's input datasets holding every signature column; one whose
    name says "train" wins, then the one with the most rows (test splits are smaller).
    """
    from nbmlops.tracking.api import get_run

    wanted = set((mv.signature or {}).get("columns") or [])
    candidates = [ds for ds in get_run(mv.run_id).datasets
                  if ds.role == "input" and ds.stats.get("columns") and wanted <= set(ds.columns)]
    if not candidates:
        return None, None
    ds = max(candidates, key=lambda d: ("train" in d.name.lower(), d.stats.get("rows", 0)))
    cols = {c: e for c, e in ds.stats["columns"].items() if not wanted or c in wanted}
    return {**ds.stats, "columns": cols}, f"{ds.name} ({ds.fingerprint[:12]})"


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


def monitor(ref: str, *, since: float | None = None, window_s: float | None = None,
            limit: int = 10_000) -> MonitoringReport:
    """Return the monitoring report of ``ref`` (``name@alias``/``name/3``) from logged traffic.

    ``window_s`` keeps only the last that many seconds (``since`` is an epoch time).
    """
    import pandas as pd

    from nbmlops.registry.versions import get_model_version
    from nbmlops.store.serving import serving_store

    if window_s is not None:
        if window_s <= 0:
            raise ValidationError(f"window_s must be positive seconds, got {window_s!r}")
        since = time.time() - window_s
    mv = get_model_version(ref)
    logs = serving_store().predictions(mv.name, version=mv.version, since=since, limit=limit)
    notes: list[str] = []
    frames = [pd.DataFrame(log["inputs"]) for log in logs if log.get("inputs")]
    live = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    reference, ref_name = _reference_stats(mv)
    drift = None
    if live.empty:
        notes.append("no served traffic logged for this version yet")
    elif reference is None:
        notes.append("the training run logged no dataset with the model's columns; "
                     "no drift reference")
    else:
        from nbmlops.monitoring.drift import drift_report

        drift = drift_report(reference, live)
    accuracy, labelled = _accuracy(logs)
    return MonitoringReport(
        model=mv.name, version=mv.version, requests=len(logs),
        rows=int(sum(log.get("n_rows") or 0 for log in logs)),
        latency_ms=_latency([log["latency_ms"] for log in logs]), drift=drift,
        reference=ref_name, accuracy=accuracy, labelled_rows=labelled, window_s=window_s,
        notes=notes,
    )
