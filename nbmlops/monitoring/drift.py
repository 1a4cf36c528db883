"""Data drift: population stability index (PSI) of live inputs against training statistics.

The reference is the per-column statistics nbmlops stores with every dataset fingerprint
(histogram edges and counts for numeric columns, top values for categorical ones), so
drift needs no copy of the training data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

#: PSI above this is conventionally a significant shift (below 0.1: none; 0.1-0.25: moderate).
PSI_THRESHOLD = 0.25
_EPS = 1e-4


def psi(expected: list[float], actual: list[float]) -> float:
    """Return the population stability index between two binned distributions (counts)."""
    import numpy as np

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValidationError("psi needs two non-empty count vectors of the same length")
    e = np.clip(e / e.sum(), _EPS, None)
    a = np.clip(a / a.sum(), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_counts(entry: dict[str, Any], values: Any) -> tuple[list[float], list[float]]:
    import numpy as np

    edges = np.asarray(entry["histogram"]["edges"], dtype=float)
    ref = list(entry["histogram"]["counts"])
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    # open the outer bins so live values outside the training range still count
    inner = edges[1:-1]
    idx = np.searchsorted(inner, v, side="right")
    cur = np.bincount(idx, minlength=len(ref)).tolist()
    return ref, cur


def _categorical_counts(entry: dict[str, Any], values: Any) -> tuple[list[float], list[float]]:
    import pandas as pd

    top: dict[str, int] = entry.get("top", {})
    cur = pd.Series(values).astype(str).value_counts()
    ref_counts = [float(n) for n in top.values()]
    cur_counts = [float(cur.get(k, 0)) for k in top]
    ref_other = max(0.0, float(entry.get("count", sum(ref_counts))) - sum(ref_counts))
    cur_other = float(cur.sum()) - sum(cur_counts)
    return ref_counts + [ref_other], cur_counts + [cur_other]


def drift_report(
    reference: dict[str, Any], current: pd.DataFrame, *, threshold: float = PSI_THRESHOLD
) -> pd.DataFrame:
    """Return one row per column: PSI of ``current`` vs the reference stats, and a drift flag.

    ``reference`` is a dataset's ``stats`` dict (``DatasetInfo.stats``).
    """
    import pandas as pd

    columns: dict[str, Any] = reference.get("columns", {})
    if not columns:
        raise ValidationError("the reference dataset has no column statistics to compare with")
    rows: list[dict[str, Any]] = []
    for col, entry in columns.items():
        if col not in current.columns:
            rows.append({"column": col, "psi": None, "drift": None,
                         "note": "missing from the live data"})
            continue
        values = current[col].dropna()
        if len(values) == 0:
            rows.append({"column": col, "psi": None, "drift": None, "note": "no live values"})
            continue
        if "histogram" in entry:
            ref, cur = _numeric_counts(entry, values)
        elif "top" in entry:
            ref, cur = _categorical_counts(entry, values)
        else:
            rows.append({"column": col, "psi": None, "drift": None, "note": "no statistics"})
            continue
        value = psi(ref, cur)
        rows.append({"column": col, "psi": round(value, 4), "drift": value > threshold,
                     "note": f"{len(values)} live values"})
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["column", "psi", "drift", "note"])
    return frame
