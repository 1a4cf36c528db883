"""Drift: PSI of live data against the statistics stored with a training dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbmlops.errors import ValidationError
from nbmlops.monitoring.drift import drift_report, psi
from nbmlops.tracking.datasets import frame_stats


@pytest.fixture()
def reference() -> dict:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=3000), "c": rng.choice(["x", "y", "z"], 3000)})
    return frame_stats(frame)


def test_same_distribution_does_not_drift(reference: dict) -> None:
    rng = np.random.default_rng(1)
    live = pd.DataFrame({"a": rng.normal(size=800), "c": rng.choice(["x", "y", "z"], 800)})
    report = drift_report(reference, live).set_index("column")
    assert not report["drift"].any()
    assert report.loc["a", "psi"] < 0.1


def test_shifted_numeric_and_new_category_drift(reference: dict) -> None:
    rng = np.random.default_rng(2)
    live = pd.DataFrame({"a": rng.normal(2.0, size=800), "c": rng.choice(["x", "new"], 800)})
    report = drift_report(reference, live).set_index("column")
    assert bool(report.loc["a", "drift"]) and bool(report.loc["c", "drift"])


def test_values_outside_training_range_are_counted(reference: dict) -> None:
    live = pd.DataFrame({"a": np.full(100, 1e6), "c": ["x"] * 100})
    report = drift_report(reference, live).set_index("column")
    assert report.loc["a", "psi"] > 1


def test_missing_column_is_reported_not_crashed(reference: dict) -> None:
    report = drift_report(reference, pd.DataFrame({"a": [0.1, 0.2]})).set_index("column")
    assert report.loc["c", "note"] == "missing from the live data"


def test_psi_rejects_mismatched_bins() -> None:
    with pytest.raises(ValidationError, match="same length"):
        psi([1, 2], [1, 2, 3])


def test_reference_without_stats_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="no column statistics"):
        drift_report({}, pd.DataFrame({"a": [1.0]}))
