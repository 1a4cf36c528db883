"""Build the MLflow-style runs DataFrame from store records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbmlops.tracking.values import decode_param

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.entities import RunRecord

BASE_COLUMNS = ["run_id", "name", "experiment", "status", "start_time", "duration",
                "parent_run_id", "provenance"]


def runs_frame(store: Any, records: list[RunRecord]) -> pd.DataFrame:
    """Return one row per run with ``params.<k>`` and ``metrics.<k>`` columns."""
    import pandas as pd

    ids = [r.id for r in records]
    params = store.get_params(ids) if ids else {}
    metrics = store.get_latest_metrics(ids) if ids else {}
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {
            "run_id": r.id, "name": r.name, "experiment": r.experiment,
            "status": r.status.value, "start_time": r.start_time, "duration": r.duration,
            "parent_run_id": r.parent_run_id, "provenance": r.provenance_status,
        }
        for k, (text, kind) in sorted(params[r.id].items()):
            row[f"params.{k}"] = decode_param(text, kind) if kind == "json" else text
        for k, v in sorted(metrics[r.id].items()):
            row[f"metrics.{k}"] = v
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else BASE_COLUMNS)
    extra = sorted(c for c in frame.columns if c not in BASE_COLUMNS)
    ordered = BASE_COLUMNS + [c for c in extra if c.startswith("params.")] + [
        c for c in extra if c.startswith("metrics.")]
    return frame[ordered]
