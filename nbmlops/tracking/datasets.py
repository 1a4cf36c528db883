"""Dataset fingerprints (stable content hashes) with schema and drift-ready statistics."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from nbmlops.entities import DatasetInfo
from nbmlops.errors import ValidationError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_STAT_COLUMNS = 500
TOP_CATEGORIES = 20
_stats_cache: dict[str, dict[str, Any]] = {}


def is_dataset(value: Any) -> bool:
    """Return whether a value is a DataFrame, Series or ndarray (without importing pandas)."""
    mod = type(value).__module__
    name = type(value).__name__
    return (mod.startswith("pandas") and name in {"DataFrame", "Series"}) or (
        mod == "numpy" and name == "ndarray"
    )


def fingerprint(data: Any, name: str = "data") -> DatasetInfo:
    """Return the fingerprint, schema and statistics of a DataFrame, Series, ndarray or file."""
    if isinstance(data, (str, os.PathLike)):
        return _file_fingerprint(Path(data), name)
    mod = type(data).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        frame = data.to_frame() if isinstance(data, pd.Series) else data
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(f"cannot fingerprint {type(data).__name__} {name!r}")
        return _frame_fingerprint(frame, name)
    if mod == "numpy":
        return _array_fingerprint(data, name)
    raise ValidationError(
        f"dataset {name!r} is a {type(data).__name__}; log a pandas DataFrame/Series, "
        "a numpy array or a file path"
    )


def _frame_fingerprint(df: Any, name: str) -> DatasetInfo:
    import pandas as pd

    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in df.columns]).encode())
    h.update(json.dumps([str(t) for t in df.dtypes]).encode())
    try:
        h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to a canonical text form
        h.update(df.to_json(orient="split", date_format="iso").encode())
    fp = h.hexdigest()
    stats = _stats_cache.get(fp)
    if stats is None:
        stats = _stats_cache[fp] = frame_stats(df)
    return DatasetInfo(fp, name, "dataframe", tuple(int(x) for x in df.shape),
                       [str(c) for c in df.columns], [str(t) for t in df.dtypes], stats)


def _array_fingerprint(arr: Any, name: str) -> DatasetInfo:
    import numpy as np

    h = hashlib.sha256()
    h.update(f"{arr.dtype.str}|{arr.shape}".encode())
    if arr.dtype == object:
        h.update(repr(arr.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(arr).tobytes())
    fp = h.hexdigest()
    stats = _stats_cache.get(fp)
    if stats is None:
        stats = {}
        if arr.ndim in (1, 2) and arr.dtype.kind in "biuf" and arr.size:
            import pandas as pd

            stats = frame_stats(pd.DataFrame(arr.reshape(len(arr), -1)))
        _stats_cache[fp] = stats
    ncol = arr.shape[1] if arr.ndim == 2 else 1
    return DatasetInfo(fp, name, "ndarray", tuple(int(x) for x in arr.shape),
                       [str(i) for i in range(ncol)], [str(arr.dtype)] * ncol, stats)


def _file_fingerprint(path: Path, name: str) -> DatasetInfo:
    if not path.is_file():
        raise ValidationError(f"dataset file {str(path)!r} does not exist or is not a file")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    size = path.stat().st_size
    return DatasetInfo(h.hexdigest(), name, "file", (size,), [], [],
                       {"path": str(path.resolve()), "bytes": size})


def frame_stats(df: Any) -> dict[str, Any]:
    """Return per-column statistics (numeric: moments, quantiles, histogram; other: top values)."""
    import numpy as np

    out: dict[str, Any] = {"rows": int(len(df)), "columns": {}}
    for col in list(df.columns)[:MAX_STAT_COLUMNS]:
        s = df[col]
        entry: dict[str, Any] = {"dtype": str(s.dtype), "missing": int(s.isna().sum()),
                                 "count": int(s.notna().sum())}
        if s.dtype.kind in "biuf":
            v = s.dropna().to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if v.size:
                counts, edges = np.histogram(v, bins=10)
                entry.update(
                    mean=float(v.mean()), std=float(v.std()), min=float(v.min()),
                    max=float(v.max()),
                    quantiles={str(q): float(x)
                               for q, x in zip(QUANTILES, np.quantile(v, QUANTILES), strict=True)},
                    histogram={"edges": edges.tolist(), "counts": counts.tolist()},
                )
        else:
            vc = s.astype(str).value_counts()
            entry.update(unique=int(vc.size),
                         top={str(k): int(n) for k, n in vc.head(TOP_CATEGORIES).items()})
        out["columns"][str(col)] = entry
    return out
