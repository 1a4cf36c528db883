"""Request traffic of a served model over time: requests, rows and latency per time bucket."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

#: the most prediction logs one timeline reads (newest first)
MAX_LOGS = 5000
COLUMNS = ["time", "requests", "rows", "latency_p50_ms", "latency_p95_ms"]


def request_timeline(model: str, *, version: int | None = None, window_s: float = 3600.0,
                     buckets: int = 30, now: float | None = None) -> pd.DataFrame:
    """Return the logged requests of ``model`` per time bucket over the last ``window_s``.

    One row per bucket, oldest first, empty buckets included: ``time`` (UTC bucket start),
    ``requests``, ``rows`` and ``latency_p50_ms``/``latency_p95_ms`` (NaN without
    requests). At most the newest :data:`MAX_LOGS` requests are read.

    Raises
    ------
    ValidationError
        When ``window_s`` is not positive or ``buckets`` is not an int in 1..500.
    """
    import numpy as np
    import pandas as pd

    from nbmlops.store.serving import serving_store

    if isinstance(window_s, bool) or not isinstance(window_s, (int, float)) or window_s <= 0:
        raise ValidationError(f"window_s must be a positive number of seconds, got {window_s!r}")
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= 500:
        raise ValidationError(f"buckets must be an int from 1 to 500, got {buckets!r}")
    end = time.time() if now is None else now
    start = end - window_s
    logs = serving_store().predictions(model, version=version, since=start, limit=MAX_LOGS)
    width = window_s / buckets
    groups: list[list[tuple[float, int]]] = [[] for _ in range(buckets)]
    for log in logs:
        i = min(int((log["at"] - start) // width), buckets - 1)
        if i >= 0:
            groups[i].append((float(log["latency_ms"]), int(log.get("n_rows") or 0)))
    rows = []
    for i, g in enumerate(groups):
        lat = np.array([x for x, _ in g]) if g else None
        rows.append({
            "time": pd.Timestamp(start + i * width, unit="s", tz="UTC"), "requests": len(g),
            "rows": sum(n for _, n in g),
            "latency_p50_ms": float(np.percentile(lat, 50)) if lat is not None else np.nan,
            "latency_p95_ms": float(np.percentile(lat, 95)) if lat is not None else np.nan,
        })
    frame: pd.DataFrame = pd.DataFrame(rows, columns=COLUMNS)
    return frame
