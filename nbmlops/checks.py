"""``nbmlops.checks``: the check helpers of :mod:`nbmlops.registry.checks`, by a short name."""

from __future__ import annotations

from nbmlops.registry.checks import (
    CheckResult,
    CheckSuite,
    abort,
    check,
    check_invariance,
    check_latency,
    check_metric,
    check_no_regression,
    check_slices,
    current,
    finish,
    start,
)

__all__ = [
    "CheckResult",
    "CheckSuite",
    "abort",
    "check",
    "check_invariance",
    "check_latency",
    "check_metric",
    "check_no_regression",
    "check_slices",
    "current",
    "finish",
    "start",
]
