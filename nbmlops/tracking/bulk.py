"""``log_runs``: a DataFrame of finished runs stored in one transaction (sweeps, imports)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError
from nbmlops.names import validate_key, validate_name
from nbmlops.tracking.values import encode_param, to_metric

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.config import Settings

#: columns of ``runs()`` that log_runs accepts besides params.* and metrics.*
_KNOWN = {"name", "start_time", "duration"}


def _columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    params, metrics, unknown = [], [], []
    for col in map(str, frame.columns):
        head, _, key = col.partition(".")
        if head == "params" and key:
            validate_key(key, "param")
            params.append(col)
        elif head == "metrics" and key:
            validate_key(key, "metric")
            metrics.append(col)
        elif col not in _KNOWN:
            unknown.append(col)
    if unknown:
        raise ValidationError(
            f"log_runs does not know the column(s) {', '.join(map(repr, unknown))}; "
            "use name, start_time, duration, params.<key> and metrics.<key> (from a "
            "frame of nbmlops.runs(), select those columns: its run ids, status and "
            "provenance belong to the runs it lists, not to new ones)")
    return params, metrics


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _epoch(value: Any, default: float) -> float:
    import pandas as pd

    if _missing(value) or value is pd.NaT:
        return default
    if hasattr(value, "timestamp"):  # datetime / pandas Timestamp
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"start_time {value!r} is neither a datetime nor epoch "
                              "seconds") from exc


def _row(row: dict[str, Any], i: int, params: list[str], metrics: list[str],
         now: float) -> tuple[Any, ...]:
    name = row.get("name")
    name = f"run-{i}" if _missing(name) else str(name)
    validate_name(name, "run")
    start = _epoch(row.get("start_time"), now)
    duration: Any = row.get("duration")
    end = start if _missing(duration) else start + float(duration)
    p = {c[7:]: encode_param(c[7:], row[c]) for c in params if not _missing(row[c])}
    m = {c[8:]: to_metric(c[8:], row[c]) for c in metrics if row[c] is not None}
    return name, start, end, p, m


def log_runs(frame: pd.DataFrame, experiment: str = "default", *,
             settings: Settings | None = None) -> list[str]:
    """Store each row of ``frame`` as one finished run; return the new run ids.

    Parameters
    ----------
    frame : pandas.DataFrame
        One run per row, with columns named as :func:`nbmlops.runs` names them:
        ``name``, ``params.<key>`` and ``metrics.<key>`` (optionally ``start_time`` and
        ``duration`` in seconds). Any other column (``run_id``, ``status``, ... of a
        ``runs()`` frame) is refused rather than dropped. Missing values are not stored.
    experiment : str
        The experiment the runs belong to.
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    list of str
        The new run ids, in the frame's row order.

    Raises
    ------
    ValidationError
        An unknown column, a bad name or key, or a value that cannot be a metric; every
        row is checked before anything is written, so nothing is half-stored.
    """
    import pandas as pd

    from nbmlops.store import open_store

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"log_runs takes a pandas DataFrame, got {type(frame).__name__}")
    validate_name(experiment, "experiment")
    params, metrics = _columns(frame)
    now = time.time()
    rows = [_row({str(k): v for k, v in r.items()}, i, params, metrics, now)
            for i, r in enumerate(frame.to_dict("records"))]
    store, _ = open_store(settings)
    return store.bulk_create_runs(experiment, rows)
