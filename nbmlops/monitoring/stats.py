"""Vectorised two-sample statistics against a precomputed reference (pure functions).

- :func:`ks_test`: two-sample Kolmogorov-Smirnov, statistic and p-value as
  ``scipy.stats.ks_2samp(method="auto")`` computes them on the same data, from the
  reference's sorted distinct values and cumulative counts and the sorted current values
  (two ``searchsorted`` calls of the reference into the current data);
- :func:`chi2_test`: chi-square on the 2 x K table of counts, as
  ``scipy.stats.chi2_contingency`` (Yates' correction when K == 2);
- :func:`psi`, :func:`wasserstein`, :func:`adjust_pvalues` (Benjamini-Hochberg, Bonferroni).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np

    from nbmlops.monitoring.reference import ColumnReference

_EPS = 1e-4
#: scipy's ks_2samp switches from the exact to the asymptotic p-value above this size
KS_EXACT_MAX_N = 10_000
WASSERSTEIN_GRID = 4_096
CORRECTIONS = ("bh", "bonferroni", "none")


def ks_statistic(points: np.ndarray, cum: np.ndarray, n1: int, cur: np.ndarray) -> float:
    """Return the KS statistic of reference (``points``, ``cum``, ``n1``) vs sorted ``cur``.

    The pairs (reference ECDF, current ECDF) evaluated are exactly the extreme ones of
    ``ks_2samp``'s evaluation at every pooled value, with the same float arithmetic.
    """
    import numpy as np

    n2 = cur.size
    right = np.searchsorted(cur, points, side="right")
    # left differs from right only where a current value equals the point: search those only
    tie = (right > 0) & (cur[np.maximum(right - 1, 0)] == points)
    left = right.copy()
    left[tie] = np.searchsorted(cur, points[tie], side="left")
    prev = np.concatenate(([0], cum[:-1]))
    at = cum / n1 - right / n2
    before = prev / n1 - left / n2
    hi = max(float(at.max()), float(before.max()))
    lo = max(float(-at.min()), float(-before.min()), 0.0)
    return max(hi, lo)


def ks_pvalue(d: float, n1: int, n2: int, ref: ColumnReference, cur: np.ndarray) -> float:
    """Return ks_2samp's two-sided p-value (exact up to 10,000 rows each, else asymptotic)."""
    import numpy as np
    from scipy import stats  # type: ignore[import-untyped]  # via scikit-learn

    if max(n1, n2) <= KS_EXACT_MAX_N and ref.exact:
        # the exact path is scipy's own (cheap at these sizes), on the same data
        return float(stats.ks_2samp(ref.values(), cur, method="auto").pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(kstwo_sf(d, float(np.round(en))), 0, 1))


def kstwo_sf(x: float, n: float) -> float:
    """Return ``scipy.stats.kstwo.sf(x, n)``, faster where scipy sums Smirnov's series in C.

    scipy answers ``2 * scipy.special.smirnov(n, x)`` when ``n > 140`` and
    ``2.2 <= n x^2 < 370`` (one call costs 0.2-2 s at n = 10^5..10^6); this sums the same
    Birnbaum-Tingey series vectorised in log space (relative error ~1e-10), and above
    ``n x^2 = 14`` returns the bound ``2 exp(-2 n x^2)`` (both are below 1.4e-12 there).
    Every other case is scipy's own.
    """
    import math

    from scipy import stats

    t = n * x
    nx2 = t * x
    if n > 140 and 0 < x < 0.5 and 1 < t < n - 1 and nx2 >= 2.2:
        if nx2 >= 370:
            return 0.0
        if nx2 >= 14:
            return min(1.0, 2 * math.exp(-2 * nx2))
        return min(1.0, 2 * _smirnov(int(n), x))
    return float(stats.kstwo.sf(x, n))


def _smirnov(n: int, x: float) -> float:
    """Return P(D+_n >= x), the one-sided one-sample Smirnov tail (Birnbaum-Tingey sum)."""
    import numpy as np
    from scipy import special

    j = np.arange(int(np.floor(n * (1 - x))) + 1, dtype=float)
    with np.errstate(divide="ignore"):
        logt = (special.gammaln(n + 1) - special.gammaln(j + 1) - special.gammaln(n - j + 1)
                + (n - j) * np.log(1.0 - x - j / n) + (j - 1) * np.log(x + j / n))
    return float(x * np.exp(special.logsumexp(logt)))


def ks_test(ref: ColumnReference, cur: np.ndarray) -> tuple[float, float]:
    """Return (statistic, p-value) of the KS test of sorted ``cur`` against ``ref``."""
    import math

    assert ref.points is not None and ref.cum is not None
    n1, n2 = ref.n, int(cur.size)
    d = ks_statistic(ref.points, ref.cum, n1, cur)
    if max(n1, n2) <= KS_EXACT_MAX_N and ref.exact:
        lcm = (n1 // math.gcd(n1, n2)) * n2  # the exact method reports d on the lcm grid
        d = round(d * lcm) * 1.0 / lcm
    return d, ks_pvalue(d, n1, n2, ref, cur)


def chi2_test(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Return (statistic, p-value) as ``chi2_contingency([ref_counts, cur_counts])``."""
    import numpy as np
    from scipy import stats

    observed = np.vstack([ref_counts, cur_counts]).astype(float)
    dof = observed.shape[1] - 1
    if dof == 0:
        return 0.0, 1.0
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    if dof == 1:  # Yates' continuity correction, as scipy applies it for one degree
        diff = expected - observed
        direction = np.sign(diff)
        magnitude = np.minimum(0.5, np.abs(diff))
        observed = observed + magnitude * direction
    stat = float(((observed - expected) ** 2 / expected).sum())
    return stat, float(stats.chi2.sf(stat, dof))


def psi(expected: np.ndarray | list[float], actual: np.ndarray | list[float]) -> float:
    """Return the population stability index between two binned distributions (counts)."""
    import numpy as np

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValidationError("psi needs two non-empty count vectors of the same length")
    e = np.clip(e / e.sum(), _EPS, None)
    a = np.clip(a / a.sum(), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(ref: ColumnReference, cur: np.ndarray) -> float:
    """Return the PSI of sorted ``cur`` on the reference's decile bins."""
    import numpy as np

    assert ref.edges is not None and ref.bin_counts is not None
    counts = np.diff(np.searchsorted(cur, ref.edges, side="right"), prepend=0, append=cur.size)
    return psi(ref.bin_counts, counts)


def wasserstein(ref: ColumnReference, cur: np.ndarray, grid: int = WASSERSTEIN_GRID) -> float:
    """Return the 1-Wasserstein distance of sorted ``cur`` to the reference.

    Computed as the mean gap between the two quantile functions on a ``grid``-point
    mid-point grid (within about 1% of ``scipy.stats.wasserstein_distance``).
    """
    import numpy as np

    assert ref.points is not None and ref.cum is not None
    u = (np.arange(grid) + 0.5) / grid
    q1 = ref.points[np.minimum(np.searchsorted(ref.cum, u * ref.n, side="left"),
                               ref.points.size - 1)]
    q2 = cur[np.minimum((u * cur.size).astype(np.int64), cur.size - 1)]
    return float(np.abs(q1 - q2).mean())


def adjust_pvalues(pvalues: list[float], method: str) -> list[float]:
    """Return p-values adjusted for testing several columns (``bh``, ``bonferroni``, ``none``)."""
    import numpy as np

    if method not in CORRECTIONS:
        raise ValidationError(f"correction {method!r} must be one of {', '.join(CORRECTIONS)}")
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0 or method == "none":
        return [float(x) for x in p]
    if method == "bonferroni":
        return [float(x) for x in np.minimum(p * m, 1.0)]
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return [float(x) for x in out]
