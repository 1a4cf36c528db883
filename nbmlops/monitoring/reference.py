"""Drift references: what drift tests need to know about a training dataset, without its rows.

A :class:`DriftReference` holds, per column,

- numeric: the sorted distinct values with their cumulative counts (exact), or, above
  ``max_points`` distinct values, a quantile sketch of that many points whose cumulative
  counts are still exact at each point; the mean, the standard deviation and the
  reference-quantile (decile) bin edges and counts for PSI;
- categorical: the count of every category (the most frequent ``MAX_CATEGORIES``, the
  rest pooled);
- both: the number of missing values.

It is what ``nbmlops.drift_reference(df)`` returns and what ``log_dataset``/``%%track``
store for a DataFrame, so serving and monitoring never need the raw training data.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: numeric columns with more distinct values than this are stored as a quantile sketch
STORED_MAX_POINTS = 10_000
#: categories kept per categorical column; rarer ones are pooled as OTHER
MAX_CATEGORIES = 1_000
OTHER = "__other__"
PSI_BINS = 10
_FORMAT = 1


@dataclass(frozen=True)
class ColumnReference:
    """The reference distribution of one column."""

    kind: str  # "numeric" or "categorical"
    n: int  # non-missing values
    missing: int
    points: np.ndarray | None = None  # numeric: sorted distinct values (or sketch points)
    cum: np.ndarray | None = None  # numeric: count of values <= each point
    exact: bool = True  # numeric: points hold every distinct value
    mean: float = 0.0
    std: float = 0.0
    edges: np.ndarray | None = None  # numeric: interior PSI bin edges (reference quantiles)
    bin_counts: np.ndarray | None = None  # numeric: reference counts per PSI bin
    counts: dict[str, int] = field(default_factory=dict)  # categorical

    @property
    def missing_rate(self) -> float:
        """Return the share of missing values in the reference."""
        total = self.n + self.missing
        return self.missing / total if total else 0.0

    def values(self) -> np.ndarray:
        """Return the sorted reference values (exact references only)."""
        import numpy as np

        if self.points is None or self.cum is None or not self.exact:
            raise ValidationError("only an exact numeric reference can give back its values")
        return np.repeat(self.points, np.diff(self.cum, prepend=0))


@dataclass(frozen=True)
class DriftReference:
    """Per-column reference distributions for ``nbmlops.drift``."""

    columns: dict[str, ColumnReference]
    rows: int
    name: str | None = None

    def to_bytes(self) -> bytes:
        """Return a compact serialised form (zlib-compressed JSON, arrays as base64)."""
        cols = {name: _col_to_dict(c) for name, c in self.columns.items()}
        body = {"format": _FORMAT, "rows": self.rows, "name": self.name, "columns": cols}
        return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> DriftReference:
        """Return the reference serialised by :meth:`to_bytes`."""
        body = json.loads(zlib.decompress(data))
        if body.get("format") != _FORMAT:
            raise ValidationError(f"unknown drift reference format {body.get('format')!r}")
        cols = {name: _col_from_dict(c) for name, c in body["columns"].items()}
        return cls(cols, int(body["rows"]), body.get("name"))


def _arr(a: np.ndarray | None) -> str | None:
    return None if a is None else base64.b64encode(a.tobytes()).decode()


def _unarr(s: str | None, dtype: str) -> np.ndarray | None:
    import numpy as np

    return None if s is None else np.frombuffer(base64.b64decode(s), dtype=dtype).copy()


def _col_to_dict(c: ColumnReference) -> dict[str, Any]:
    return {"kind": c.kind, "n": c.n, "missing": c.missing, "exact": c.exact, "mean": c.mean,
            "std": c.std, "points": _arr(c.points), "cum": _arr(c.cum), "edges": _arr(c.edges),
            "bin_counts": _arr(c.bin_counts), "counts": c.counts}


def _col_from_dict(d: dict[str, Any]) -> ColumnReference:
    return ColumnReference(
        kind=d["kind"], n=int(d["n"]), missing=int(d["missing"]), exact=bool(d["exact"]),
        mean=float(d["mean"]), std=float(d["std"]), points=_unarr(d["points"], "<f8"),
        cum=_unarr(d["cum"], "<i8"), edges=_unarr(d["edges"], "<f8"),
        bin_counts=_unarr(d["bin_counts"], "<i8"), counts=dict(d["counts"]),
    )


def is_numeric(series: pd.Series) -> bool:
    """Return whether a column is tested as numeric (ints and floats; bools are categories)."""
    return series.dtype.kind in "iuf"


def numeric_reference(values: np.ndarray, missing: int,
                      max_points: int | None = None) -> ColumnReference:
    """Return the reference of a numeric column from its non-missing values."""
    import numpy as np

    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0:
        return ColumnReference("numeric", 0, missing, np.empty(0), np.empty(0, np.int64))
    points, counts = np.unique(v, return_counts=True)
    cum = np.cumsum(counts)
    exact = max_points is None or points.size <= max_points
    if not exact:
        idx = np.unique(np.linspace(0, v.size - 1, int(max_points or 2)).round().astype(int))
        points = np.unique(v[idx])
        cum = np.searchsorted(v, points, side="right")
    qs = np.quantile(v, np.arange(1, PSI_BINS) / PSI_BINS)
    edges = np.unique(qs)
    hist = np.diff(np.searchsorted(v, edges, side="right"), prepend=0, append=v.size)
    return ColumnReference(
        "numeric", int(v.size), int(missing), points.astype("<f8"), cum.astype("<i8"),
        bool(exact), float(v.mean()), float(v.std()), edges.astype("<f8"), hist.astype("<i8"))


def categorical_reference(series: pd.Series) -> ColumnReference:
    """Return the reference of a categorical column (category counts, rare ones pooled)."""
    vc = series.dropna().astype(str).value_counts()
    counts = {str(k): int(n) for k, n in vc.head(MAX_CATEGORIES).items()}
    rest = int(vc.iloc[MAX_CATEGORIES:].sum()) if vc.size > MAX_CATEGORIES else 0
    if rest:
        counts[OTHER] = counts.get(OTHER, 0) + rest
    return ColumnReference("categorical", int(vc.sum()), int(series.isna().sum()),
                           counts=counts)


def drift_reference(data: Any, *, max_points: int | None = None,
                    name: str | None = None) -> DriftReference:
    """Return the drift reference of a DataFrame (or Series): what ``drift()`` compares with.

    Parameters
    ----------
    data : pandas.DataFrame or pandas.Series
        The reference data, usually the training data.
    max_points : int, optional
        Bound each numeric column to a quantile sketch of that many points (default: keep
        every distinct value, so the KS statistic is exact).
    name : str, optional
        A name shown in reports.

    Returns
    -------
    DriftReference
        Per-column statistics; JSON-able, and stored with ``log_dataset``/``%%track``.

    Raises
    ------
    ValidationError
        ``data`` is not a DataFrame or Series, or ``max_points`` is below 2.
    """
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        raise ValidationError(f"a drift reference is built from a pandas DataFrame, "
                              f"not a {type(data).__name__}")
    if max_points is not None and max_points < 2:
        raise ValidationError(f"max_points must be at least 2, got {max_points!r}")
    cols: dict[str, ColumnReference] = {}
    for col in data.columns:
        s = data[col]
        if is_numeric(s):
            arr = s.to_numpy(dtype=float, na_value=np.nan)
            ok = np.isfinite(arr)
            cols[str(col)] = numeric_reference(arr[ok], int((~ok).sum()), max_points)
        else:
            cols[str(col)] = categorical_reference(s)
    return DriftReference(cols, int(len(data)), name)


def stored_reference(data: Any) -> DriftReference | None:
    """Return the bounded reference ``log_dataset`` stores for a DataFrame (None otherwise)."""
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame) or data.shape[1] == 0:
        return None
    return drift_reference(data, max_points=STORED_MAX_POINTS)


def store_reference(sql: Any, fingerprint: str, data: Any) -> bool:
    """Store the bounded drift reference of a DataFrame under its fingerprint, once.

    Returns whether a reference is stored for it now (False for data that has none,
    e.g. arrays and files).
    """
    from nbmlops.store.monitoring import monitoring_store

    store = monitoring_store(sql)
    if store.has_reference(fingerprint):
        return True
    ref = stored_reference(data)
    if ref is None:
        return False
    store.put_reference(fingerprint, ref.to_bytes())
    return True


def load_reference(fingerprint: str, name: str | None = None) -> DriftReference | None:
    """Return the drift reference stored for a dataset fingerprint (or unique prefix)."""
    from dataclasses import replace

    from nbmlops.store.monitoring import monitoring_store

    raw = monitoring_store().get_reference(fingerprint)
    if raw is None:
        return None
    ref = DriftReference.from_bytes(raw)
    return replace(ref, name=name) if name else ref
