"""Data drift: statistical tests of current data against a reference, with false-alarm control.

``drift(reference, current)`` tests each reference column: Kolmogorov-Smirnov for numeric
columns, chi-square over the union of categories for categorical ones, both with PSI on
reference-quantile bins (categories for categorical columns); numeric columns also get the
Wasserstein distance in reference standard deviations as their effect size. A column
drifts only when

1. both samples hold at least ``min_rows`` values (else the verdict is "not enough data",
   not "no drift"),
2. its p-value is below ``alpha`` after correcting for the number of columns tested
   (Benjamini-Hochberg by default), **and**
3. its effect size reaches the floor (``numeric_floor`` reference standard deviations of
   Wasserstein distance, ``categorical_floor`` of PSI), so a million rows do not flag a
   negligible shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError
from nbmlops.monitoring.reference import OTHER, ColumnReference, DriftReference, drift_reference
from nbmlops.monitoring.stats import CORRECTIONS, adjust_pvalues, psi

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["DriftReport", "drift", "drift_reference", "psi"]

TABLE_COLUMNS = ["column", "kind", "test", "statistic", "p_value", "p_adjusted", "psi",
                 "effect", "drift", "verdict", "n_reference", "n_current",
                 "missing_reference", "missing_current", "new_categories", "note"]
NUMERIC_TESTS = ("ks", "psi", "wasserstein")
CATEGORICAL_TESTS = ("chi2", "psi")
HIST_BINS = 30


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift verdicts of current data against a reference, and how they were made."""

    table: pd.DataFrame
    thresholds: dict[str, Any]
    n_reference: int
    n_current: int
    reference_name: str | None = None
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def drifted_columns(self) -> list[str]:
        """Return the columns whose verdict is drift."""
        t = self.table
        return [str(c) for c in t.loc[t["verdict"] == "drift", "column"]]

    @property
    def share_drifted(self) -> float | None:
        """Return the share of tested feature columns that drift (None if none was tested)."""
        t = self.table
        t = t[t["column"] != "prediction"] if "prediction" in set(t["column"]) else t
        tested = t[t["verdict"].isin(["drift", "no drift"])]
        return float((tested["verdict"] == "drift").mean()) if len(tested) else None

    def _repr_html_(self) -> str:
        from nbmlops.monitoring.plots import drift_html

        return drift_html(self)


def _category_counts(series: pd.Series) -> dict[str, int]:
    """Return non-missing category counts keyed by ``str(value)``."""
    import numpy as np
    import pandas as pd

    pairs: Any
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        pairs = zip(series.cat.categories, counts.tolist(), strict=True)
    else:
        pairs = series.value_counts(dropna=True).items()
    out: dict[str, int] = {}
    for k, n in pairs:
        if n:
            out[str(k)] = out.get(str(k), 0) + int(n)
    return out


def _numeric_values(series: pd.Series) -> tuple[np.ndarray, int, str]:
    """Return the sorted finite values, the missing count and a note for a current column."""
    import numpy as np
    import pandas as pd

    note = ""
    if series.dtype.kind not in "iufb":
        converted = pd.to_numeric(series, errors="coerce")
        bad = int(converted.isna().sum() - series.isna().sum())
        if bad:
            note = f"{bad} non-numeric values counted as missing"
        series = converted
    arr = series.to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(arr)
    missing = int(arr.size - ok.sum())
    v = arr[ok] if missing else arr.copy()
    v.sort()
    return v, missing, note


def _row(name: str, ref: ColumnReference, test: str) -> dict[str, Any]:
    return {"column": name, "kind": ref.kind, "test": test, "statistic": None, "p_value": None,
            "p_adjusted": None, "psi": None, "effect": None, "drift": None,
            "verdict": "not enough data", "n_reference": ref.n, "n_current": 0,
            "missing_reference": round(ref.missing_rate, 4), "missing_current": None,
            "new_categories": None, "note": ""}


def _numeric_row(row: dict[str, Any], ref: ColumnReference, series: pd.Series,
                 hists: dict[str, dict[str, Any]]) -> None:
    from nbmlops.monitoring import stats

    cur, missing, note = _numeric_values(series)
    row.update(n_current=int(cur.size), note=note,
               missing_current=round(missing / max(len(series), 1), 4))
    if cur.size == 0 or ref.n == 0:
        return
    assert ref.points is not None
    hists[row["column"]] = _numeric_hist(ref, cur)
    row["psi"] = round(stats.numeric_psi(ref, cur), 6)
    scale = ref.std if ref.std > 0 else (abs(ref.mean) or 1.0)
    row["effect"] = stats.wasserstein(ref, cur) / scale
    if ref.std == 0:
        row["note"] = _join(row["note"], "constant in the reference")
    if row["test"] == "ks":
        row["statistic"], row["p_value"] = stats.ks_test(ref, cur)
        if not ref.exact:
            row["note"] = _join(row["note"], f"KS on a {ref.points.size}-point reference sketch")
    elif row["test"] == "wasserstein":
        row["statistic"] = row["effect"]
    else:
        row["statistic"] = row["effect"] = row["psi"]


def _categorical_row(row: dict[str, Any], ref: ColumnReference, series: pd.Series,
                     hists: dict[str, dict[str, Any]]) -> None:
    import numpy as np

    from nbmlops.monitoring import stats

    cur = _category_counts(series)
    n_cur = sum(cur.values())
    row.update(n_current=n_cur, missing_current=round(1 - n_cur / max(len(series), 1), 4))
    if n_cur == 0 or ref.n == 0:
        return
    pooled = OTHER in ref.counts
    new = {k: n for k, n in cur.items() if k not in ref.counts}
    if pooled:  # categories the reference pooled may be among these: count them as OTHER
        cur = {k: n for k, n in cur.items() if k in ref.counts}
        cur[OTHER] = cur.get(OTHER, 0) + sum(new.values())
        new = {}
    cats = list(ref.counts) + [k for k in cur if k not in ref.counts]
    r = np.array([ref.counts.get(k, 0) for k in cats], dtype=float)
    c = np.array([cur.get(k, 0) for k in cats], dtype=float)
    row["psi"] = row["effect"] = round(psi(r, c), 6)
    hists[row["column"]] = {"kind": "categorical", "categories": cats[:12],
                            "reference": (r / r.sum())[:12].tolist(),
                            "current": (c / c.sum())[:12].tolist()}
    if new:
        top = sorted(new, key=lambda k: -new[k])
        row["new_categories"] = ", ".join(top[:5]) + (" ..." if len(top) > 5 else "")
        row["note"] = _join(row["note"], f"{len(new)} categories never seen in the reference "
                                         f"({sum(new.values())} rows)")
    if row["test"] == "chi2":
        row["statistic"], row["p_value"] = stats.chi2_test(r, c)
    else:
        row["statistic"] = row["psi"]


def _numeric_hist(ref: ColumnReference, cur: np.ndarray) -> dict[str, Any]:
    import numpy as np

    assert ref.points is not None and ref.cum is not None
    lo = min(float(ref.points[0]), float(cur[0]))
    hi = max(float(ref.points[-1]), float(cur[-1]))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HIST_BINS + 1)
    idx = np.searchsorted(ref.points, edges, side="right")
    ref_cdf = np.where(idx > 0, ref.cum[np.maximum(idx - 1, 0)], 0)
    ref_hist = np.diff(ref_cdf, prepend=0)[1:]
    ref_hist[0] += ref_cdf[0]
    cur_hist = np.diff(np.searchsorted(cur, edges, side="right"))
    cur_hist[0] += int(np.searchsorted(cur, edges[0], side="right"))
    return {"kind": "numeric", "edges": edges.tolist(),
            "reference": (ref_hist / max(ref.n, 1)).tolist(),
            "current": (cur_hist / max(cur.size, 1)).tolist()}


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _test_for(name: str, ref: ColumnReference, tests: str | dict[str, str] | None) -> str:
    wanted = tests.get(name) if isinstance(tests, dict) else tests
    allowed = NUMERIC_TESTS if ref.kind == "numeric" else CATEGORICAL_TESTS
    if wanted is None:
        return allowed[0]
    if wanted not in allowed:
        raise ValidationError(f"test {wanted!r} for {ref.kind} column {name!r} must be one of "
                              f"{', '.join(allowed)}")
    return wanted


def _check_args(reference: Any, current: Any, alpha: float, correction: str,
                min_rows: int, tests: Any) -> DriftReference:
    import pandas as pd

    if not isinstance(current, pd.DataFrame):
        raise ValidationError(f"current data must be a pandas DataFrame, "
                              f"not a {type(current).__name__}")
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha must be between 0 and 1, got {alpha!r}")
    if correction not in CORRECTIONS:
        raise ValidationError(f"correction {correction!r} must be one of "
                              f"{', '.join(CORRECTIONS)}")
    if not isinstance(min_rows, int) or min_rows < 1:
        raise ValidationError(f"min_rows must be a positive integer, got {min_rows!r}")
    if tests is not None and not isinstance(tests, (str, dict)):
        raise ValidationError("tests must be a test name or a {column: test} dict")
    if isinstance(reference, pd.DataFrame | pd.Series):
        reference = drift_reference(reference)
    if not isinstance(reference, DriftReference):
        raise ValidationError("reference must be a DataFrame or nbmlops.drift_reference(df), "
                              f"not a {type(reference).__name__}")
    if not reference.columns:
        raise ValidationError("the reference has no columns to compare with")
    if isinstance(tests, dict):
        unknown = sorted(set(tests) - set(reference.columns))
        if unknown:
            raise ValidationError(f"tests names columns not in the reference: {unknown}")
    return reference


def drift(reference: Any, current: pd.DataFrame, *, alpha: float = 0.05,
          tests: str | dict[str, str] | None = None, correction: str = "bh",
          min_rows: int = 100, numeric_floor: float = 0.1,
          categorical_floor: float = 0.1, psi_threshold: float = 0.25) -> DriftReport:
    """Return the DriftReport of ``current`` against ``reference`` (DataFrame or reference).

    A ``psi`` test (no p-value) drifts at ``psi_threshold``, a ``wasserstein`` one at
    ``numeric_floor``; every threshold is stored in ``DriftReport.thresholds``.

    Parameters
    ----------
    reference : pandas.DataFrame or DriftReference
        The data the model was trained on, or its :func:`drift_reference`.
    current : pandas.DataFrame
        The data to compare.
    alpha : float
        Significance level of the per-column tests, between 0 and 1.
    tests : str or dict, optional
        The test for every column (``"psi"``) or per column (``{"age": "psi"}``): numeric
        ``ks`` (default), ``psi``, ``wasserstein``; categorical ``chi2`` (default), ``psi``.
    correction : str
        Multiple-testing correction: ``"bh"`` (Benjamini-Hochberg), ``"bonferroni"`` or
        ``"none"``.
    min_rows : int
        Below this many current rows a column is "not enough data".
    numeric_floor, categorical_floor : float
        Effect sizes below which a significant test is not called drift.
    psi_threshold : float
        PSI at which a ``psi`` test drifts.

    Returns
    -------
    DriftReport
        One row per column (statistic, p-value, effect, verdict), the thresholds used and
        histograms for plotting.

    Raises
    ------
    ValidationError
        ``current`` is not a DataFrame, or an argument is out of range.
    """
    import pandas as pd

    ref = _check_args(reference, current, alpha, correction, min_rows, tests)
    rows: list[dict[str, Any]] = []
    hists: dict[str, dict[str, Any]] = {}
    for name, col in ref.columns.items():
        row = _row(name, col, _test_for(name, col, tests))
        rows.append(row)
        if name not in current.columns:
            row.update(verdict="missing", note="missing from the current data")
        elif col.kind == "numeric":
            _numeric_row(row, col, current[name], hists)
        else:
            _categorical_row(row, col, current[name], hists)
        if row["n_current"] == 0 and row["verdict"] != "missing":
            row["note"] = _join(row["note"], "no current values (all missing)")
        elif col.n == 0:
            row["note"] = _join(row["note"], "no reference values (all missing)")
    thresholds = {"alpha": alpha, "correction": correction, "min_rows": min_rows,
                  "numeric_floor": numeric_floor, "categorical_floor": categorical_floor,
                  "psi_threshold": psi_threshold,
                  "tests": tests if tests is not None else "ks/chi2"}
    _decide(rows, thresholds)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return DriftReport(table, thresholds, ref.rows, int(len(current)), ref.name, hists)


def _decide(rows: list[dict[str, Any]], th: dict[str, Any]) -> None:
    """Set p_adjusted, drift and verdict: enough data, significant after correction, big."""
    min_rows = th["min_rows"]
    eligible = [r for r in rows if r["verdict"] != "missing" and r["effect"] is not None
                and r["n_current"] >= min_rows and r["n_reference"] >= min_rows]
    ids = {id(r) for r in eligible}
    for r in rows:
        _missing_note(r)
        if r["verdict"] != "missing" and id(r) not in ids and r["n_current"]:
            r["note"] = _join(r["note"], f"fewer than min_rows={min_rows} values")
    tested = [r for r in eligible if r["p_value"] is not None]
    for r, p in zip(tested, adjust_pvalues([r["p_value"] for r in tested], th["correction"]),
                    strict=True):
        r["p_adjusted"] = p
    for r in eligible:
        floor = (th["psi_threshold"] if r["test"] == "psi" else
                 th["numeric_floor"] if r["kind"] == "numeric" else th["categorical_floor"])
        significant = r["p_adjusted"] is None or r["p_adjusted"] < th["alpha"]
        r["drift"] = bool(significant and r["effect"] >= floor)
        r["verdict"] = "drift" if r["drift"] else "no drift"
        if significant and not r["drift"] and r["p_adjusted"] is not None:
            r["note"] = _join(r["note"], f"significant but below the effect floor {floor}")
        r["effect"] = round(float(r["effect"]), 6)


def _missing_note(r: dict[str, Any]) -> None:
    a, b = r["missing_reference"], r["missing_current"]
    if b is not None and abs(b - a) >= 0.05:
        r["note"] = _join(r["note"], f"missing rate {a:.1%} -> {b:.1%}")
