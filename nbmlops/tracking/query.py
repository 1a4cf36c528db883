"""Build the MLflow-style runs DataFrame from store search results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbmlops.tracking.values import decode_param

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ["run_id", "name", "experiment", "status", "start_time", "duration",
                "parent_run_id", "provenance"]


def runs_frame(store: Any, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Return one row per run with ``params.<k>`` and ``metrics.<k>`` columns.

    ``rows`` come from ``SqlStore.search_run_summaries``; the frame is built column by
    column (a list of row dicts is several times slower for a thousand runs).
    """
    import pandas as pd

    n = len(rows)
    ids = [r[0] for r in rows]
    params, metrics = store.get_run_values(ids) if ids else ([], [])
    columns: dict[str, Any] = {
        "run_id": ids,
        "name": [r[1] for r in rows],
        "experiment": [r[2] for r in rows],
        "status": [r[3] for r in rows],
        "start_time": pd.to_datetime([r[4] for r in rows], unit="s", utc=True),
        "duration": [None if r[5] is None else r[5] - r[4] for r in rows],
        "parent_run_id": [r[6] for r in rows],
        "provenance": [r[7] for r in rows],
    }
    index = {run_id: i for i, run_id in enumerate(ids)}
    pcols: dict[str, list[Any]] = {}
    for run_id, key, text, kind in params:
        col = pcols.get(key)
        if col is None:
            col = pcols[key] = [None] * n
        col[index[run_id]] = decode_param(text, kind) if kind == "json" else text
    mcols: dict[str, list[Any]] = {}
    for run_id, key, value, is_nan in metrics:
        col = mcols.get(key)
        if col is None:
            col = mcols[key] = [None] * n
        col[index[run_id]] = float("nan") if is_nan else value
    columns.update((f"params.{k}", pcols[k]) for k in sorted(pcols))
    columns.update((f"metrics.{k}", mcols[k]) for k in sorted(mcols))
    frame: pd.DataFrame = pd.DataFrame(columns, columns=list(columns))
    return frame
