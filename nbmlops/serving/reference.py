"""Reference samples: rows to check ONNX and dry-run predictions on, beyond the input example.

The registry keeps five input-example rows and, for every dataset a run read, its
per-column statistics (histograms, top categories). A reference sample draws rows
from those statistics, so checks cover the training distribution without storing
training data. When no statistics match the signature, rows are drawn around the
input example instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbmlops.serving.validation import InputSchema

DEFAULT_ROWS = 200


def dataset_stats(run_id: str) -> list[dict[str, Any]]:
    """Return the statistics of the input datasets a run read (newest store only)."""
    from nbmlops.store import open_store

    sql, _ = open_store()
    return [d.stats for d in sql.list_datasets(run_id) if d.role == "input" and d.stats]


def reference_columns(schema: InputSchema, stats: list[dict[str, Any]],
                      n: int = DEFAULT_ROWS, seed: int = 0) -> dict[str, list[Any]] | None:
    """Return ``n`` synthetic rows as {column: values}, or None when nothing is known."""
    if schema.columns is None:
        return None
    rng = np.random.default_rng(seed)
    for st in stats:
        cols = st.get("columns") or {}
        if all(c in cols for c in schema.columns):
            return {c: _draw(cols[c], kind, n, rng)
                    for c, kind in zip(schema.columns, schema.kinds, strict=False)}
    if schema.example:
        return _around_example(schema, n, rng)
    return None


def _draw(entry: dict[str, Any], kind: str, n: int, rng: np.random.Generator) -> list[Any]:
    hist = entry.get("histogram")
    if hist and sum(hist["counts"]):
        counts = np.asarray(hist["counts"], dtype=float)
        edges = np.asarray(hist["edges"], dtype=float)
        bins = rng.choice(len(counts), size=n, p=counts / counts.sum())
        values = rng.uniform(edges[bins], edges[bins + 1])
        if kind == "i":
            return [int(v) for v in np.round(values)]
        return [float(v) for v in values]
    top = entry.get("top")
    if top:
        keys = list(top)
        p = np.asarray([top[k] for k in keys], dtype=float)
        picks = rng.choice(len(keys), size=n, p=p / p.sum())
        if kind == "b":
            return [keys[i] == "True" for i in picks]
        return [keys[i] for i in picks]
    return [0.0 if kind in "fn" else 0] * n


def _around_example(schema: InputSchema, n: int, rng: np.random.Generator) -> dict[str, list[Any]]:
    rows = schema.example or []
    out: dict[str, list[Any]] = {}
    for c, kind in zip(schema.columns or (), schema.kinds, strict=False):
        seen = [v for r in rows if (v := r.get(c)) is not None]
        if kind in "fin" and seen:
            lo, hi = float(min(seen)), float(max(seen))
            pad = (hi - lo) * 0.5 or abs(lo) * 0.5 or 1.0
            vals = rng.uniform(lo - pad, hi + pad, size=n)
            out[c] = [int(v) for v in np.round(vals)] if kind == "i" else vals.tolist()
        else:
            out[c] = [seen[i] for i in rng.integers(0, len(seen), size=n)] if seen else [None] * n
    return out


def example_columns(schema: InputSchema) -> dict[str, list[Any]] | None:
    """Return the input example as {column: values} in signature order, or None."""
    rows = schema.example
    if not rows:
        return None
    cols = list(schema.columns) if schema.columns is not None else list(rows[0])
    return {c: [r.get(c) for r in rows] for c in cols}
