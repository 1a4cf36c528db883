"""drift(): KS/chi-square as scipy computes them, PSI, effect floors, BH, false-alarm rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbmlops.errors import ValidationError
from nbmlops.monitoring.drift import drift
from nbmlops.monitoring.reference import DriftReference, drift_reference
from nbmlops.monitoring.stats import adjust_pvalues, psi


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "x": rng.normal(shift, 1.0, n),
        "k": rng.integers(0, 6, n),  # ties
        "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
    })


@pytest.mark.parametrize("n1,n2", [(150, 120), (3000, 4000), (9000, 10000), (20000, 5000),
                                   (60000, 40000)])
def test_ks_and_chi2_match_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    ref, cur = _frame(rng, n1), _frame(rng, n2, shift=0.03)
    table = drift(drift_reference(ref), cur).table.set_index("column")
    for col in ("x", "k"):
        want = stats.ks_2samp(ref[col], cur[col])
        assert table.loc[col, "statistic"] == want.statistic  # exactly
        assert table.loc[col, "p_value"] == pytest.approx(want.pvalue, abs=1e-6)
        w = stats.wasserstein_distance(ref[col], cur[col]) / ref[col].std(ddof=0)
        assert table.loc[col, "effect"] == pytest.approx(w, rel=0.05, abs=2e-3)
    cats = sorted(set(ref["c"]) | set(cur["c"]))
    observed = [[int((f["c"] == k).sum()) for k in cats] for f in (ref, cur)]
    want_c = stats.chi2_contingency(observed)
    assert table.loc["c", "statistic"] == pytest.approx(want_c.statistic, rel=1e-9)
    assert table.loc["c", "p_value"] == pytest.approx(want_c.pvalue, abs=1e-6)


def test_chi2_two_categories_uses_yates_like_scipy() -> None:
    ref = pd.DataFrame({"b": ["y"] * 300 + ["n"] * 200})
    cur = pd.DataFrame({"b": ["y"] * 120 + ["n"] * 130})
    row = drift(ref, cur).table.iloc[0]
    want = stats.chi2_contingency([[300, 200], [120, 130]])
    assert row["statistic"] == pytest.approx(want.statistic)
    assert row["p_value"] == pytest.approx(want.pvalue, abs=1e-9)


def test_one_shifted_feature_is_the_only_one_flagged() -> None:
    rng = np.random.default_rng(7)
    ref, cur = _frame(rng, 5000), _frame(rng, 2000)
    cur["x"] = cur["x"] + 0.5
    report = drift(ref, cur)
    assert report.drifted_columns == ["x"]
    assert report.share_drifted == pytest.approx(1 / 3)
    assert report.thresholds["alpha"] == 0.05 and report.thresholds["correction"] == "bh"


def test_effect_floor_keeps_a_negligible_shift_quiet_on_many_rows() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=100_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, size=500_000)})
    row = drift(ref, cur).table.iloc[0]
    assert row["p_adjusted"] < 1e-6 and not row["drift"]
    assert "below the effect floor" in row["note"]


def test_false_alarm_rate_over_200_undrifted_seeds_is_at_most_alpha() -> None:
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        ref, cur = _frame(rng, 1000), _frame(rng, 400)
        alarms += bool(drift(drift_reference(ref), cur, alpha=0.05).drifted_columns)
    assert alarms / 200 <= 0.05


def test_not_enough_data_is_not_no_drift() -> None:
    rng = np.random.default_rng(0)
    report = drift(_frame(rng, 500), _frame(rng, 30, shift=3.0))
    assert set(report.table["verdict"]) == {"not enough data"}
    assert report.table["drift"].isna().all() and report.share_drifted is None
    assert "fewer than min_rows=100" in report.table.loc[0, "note"]


def test_missing_constant_all_nan_and_new_categories() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"const": np.ones(500), "nan": np.full(500, np.nan),
                        "c": rng.choice(["a", "b"], 500), "gone": rng.normal(size=500),
                        "m": rng.normal(size=500)})
    cur = pd.DataFrame({"const": np.ones(300), "nan": rng.normal(size=300),
                        "c": rng.choice(["a", "b", "zzz"], 300),
                        "m": np.where(rng.random(300) < 0.4, np.nan, rng.normal(size=300))})
    t = drift(ref, cur).table.set_index("column")
    assert t.loc["const", "verdict"] == "no drift" and "constant" in t.loc["const", "note"]
    assert t.loc["nan", "verdict"] == "not enough data"
    assert "no reference values" in t.loc["nan", "note"]
    assert t.loc["gone", "verdict"] == "missing"
    assert t.loc["c", "new_categories"] == "zzz" and "never seen" in t.loc["c", "note"]
    assert "missing rate 0.0% ->" in t.loc["m", "note"]
    all_nan = drift(ref[["m"]], pd.DataFrame({"m": [np.nan] * 200})).table.iloc[0]
    assert all_nan["verdict"] == "not enough data" and "all missing" in all_nan["note"]


def test_reference_round_trips_and_sketch_stays_close() -> None:
    rng = np.random.default_rng(5)
    ref, cur = _frame(rng, 30000), _frame(rng, 3000, shift=0.2)
    exact = drift_reference(ref)
    again = DriftReference.from_bytes(exact.to_bytes())
    a = drift(exact, cur).table.set_index("column")
    b = drift(again, cur).table.set_index("column")
    assert a["statistic"].tolist() == b["statistic"].tolist()
    sketch = drift(drift_reference(ref, max_points=2000), cur).table.set_index("column")
    assert abs(sketch.loc["x", "statistic"] - a.loc["x", "statistic"]) < 1e-3
    assert "sketch" in sketch.loc["x", "note"]


def test_benjamini_hochberg_matches_the_definition() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    assert adjust_pvalues(p, "bh") == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    rand = np.random.default_rng(0).random(30).tolist()
    assert adjust_pvalues(rand, "bh") == pytest.approx(stats.false_discovery_control(rand))
    assert adjust_pvalues(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.8])


def test_bad_arguments_are_clear() -> None:
    ref = pd.DataFrame({"x": np.arange(200.0)})
    with pytest.raises(ValidationError, match="alpha must be between 0 and 1, got 2"):
        drift(ref, ref, alpha=2)
    with pytest.raises(ValidationError, match="correction 'holm' must be one of bh"):
        drift(ref, ref, correction="holm")
    with pytest.raises(ValidationError, match="test 'chi2' for numeric column 'x'"):
        drift(ref, ref, tests={"x": "chi2"})
    with pytest.raises(ValidationError, match="not in the reference: \\['y'\\]"):
        drift(ref, ref, tests={"y": "ks"})
    with pytest.raises(ValidationError, match="current data must be a pandas DataFrame"):
        drift(ref, [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="min_rows must be a positive integer"):
        drift(ref, ref, min_rows=0)
    with pytest.raises(ValidationError, match="same length"):
        psi([1, 2], [1, 2, 3])


def test_psi_test_without_pvalue_uses_its_threshold() -> None:
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=2000)})
    cur = pd.DataFrame({"x": rng.normal(1.0, size=2000)})
    row = drift(ref, cur, tests="psi").table.iloc[0]
    assert row["test"] == "psi" and row["p_value"] is None and bool(row["drift"])


def test_html_has_png_histograms_not_svg() -> None:
    rng = np.random.default_rng(2)
    html = drift(_frame(rng, 500), _frame(rng, 500, shift=1.0))._repr_html_()
    assert "data:image/png;base64," in html and "<svg" not in html
