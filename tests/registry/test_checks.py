"""Check helpers, suites stored as one batch, and asserts counted as checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

import nbmlops
from nbmlops import checks
from nbmlops.errors import ValidationError
from nbmlops.registry.check_runner import AssertToCheck, run_check_cell
from nbmlops.registry.versions import _registry


@pytest.fixture()
def registered(trained_run) -> None:
    nbmlops.register_model("churn", run=trained_run(C=1.0).id)
    nbmlops.register_model("churn", run=trained_run(C=1e-4).id)  # a much worse model


@pytest.fixture(autouse=True)
def no_suite():
    yield
    checks.abort()


def stored(version: int) -> list[dict]:
    reg, _ = _registry()
    return reg.latest_checks("churn", version)


def test_metric_bounds(registered, data) -> None:
    X, y = data
    checks.start("churn/1")
    ok = checks.check_metric("acc", accuracy_score, X[["a", "b"]], y, min=0.9)
    low = checks.check_metric("acc_high", accuracy_score, X[["a", "b"]], y, min=0.999999)
    both = checks.check_metric("acc_band", accuracy_score, X[["a", "b"]], y, min=0.5, max=0.6)
    assert ok.passed and ok.value > 0.9 and ok.threshold == {"min": 0.9}
    assert not low.passed and not both.passed and both.threshold == [0.5, 0.6]
    with pytest.raises(ValidationError, match="min=… and/or max=…"):
        checks.check_metric("x", accuracy_score, X[["a", "b"]], y)
    suite = checks.finish()
    assert not suite.passed and [r.check for r in suite.failed] == ["acc_high", "acc_band"]
    rows = stored(1)
    assert [r["check"] for r in rows] == ["acc", "acc_high", "acc_band"]
    assert [r["passed"] for r in rows] == [True, False, False]
    assert rows[0]["threshold"] == {"min": 0.9} and isinstance(rows[0]["value"], float)


def test_no_regression_against_production(registered, data) -> None:
    X, y = data
    nbmlops.set_alias("churn", "production", 1)
    checks.start("churn/2")
    worse = checks.check_no_regression(metric=accuracy_score, X=X[["a", "b"]], y=y)
    tolerant = checks.check_no_regression(metric=accuracy_score, X=X[["a", "b"]], y=y,
                                          tolerance=1.0, name="tolerant")
    assert not worse.passed and worse.value < worse.threshold
    assert "churn/1 scores" in worse.detail
    assert tolerant.passed
    checks.abort()
    checks.start("churn/1")
    assert checks.check_no_regression(against=2, metric=accuracy_score, X=X[["a", "b"]],
                                      y=y).passed


def test_no_regression_without_a_baseline(registered, data) -> None:
    X, y = data
    checks.start("churn/1")
    first = checks.check_no_regression(metric=accuracy_score, X=X[["a", "b"]], y=y)
    strict = checks.check_no_regression(metric=accuracy_score, X=X[["a", "b"]], y=y,
                                        if_missing="fail", name="strict")
    assert first.passed and "no baseline: churn@production" in first.detail
    assert not strict.passed


def test_latency_invariance_and_slices(registered, data) -> None:
    X, y = data
    Xn = X[["a", "b"]]
    checks.start("churn/1")
    fast = checks.check_latency(Xn.head(5), p95_ms=60_000)
    never = checks.check_latency(Xn.head(5), p95_ms=0.0, name="impossible")
    assert fast.passed and fast.value > 0 and "30 single-row" in fast.detail
    assert not never.passed
    same = checks.check_invariance(Xn, lambda d: d.copy(), name="copy")
    flipped = checks.check_invariance(Xn, lambda d: -d, name="negated", max_changed=0.1)
    assert same.passed and same.value == 0.0
    assert not flipped.passed and flipped.value > 0.5
    slices = checks.check_slices("acc", accuracy_score, Xn, y, by=X["segment"].to_numpy(),
                                 min=0.9)
    assert [s.check for s in slices] == ["acc[north]", "acc[south]"]
    assert all(s.passed for s in slices) and all("rows" in s.detail for s in slices)
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(ColumnTransformer([("num", "passthrough", ["a", "b"])]),
                         LogisticRegression()).fit(X, y)
    by_col = checks.check_slices("acc_col", accuracy_score, X, y, by="segment", min=1.01,
                                 model=pipe)
    assert len(by_col) == 2 and not any(s.passed for s in by_col)


def test_helpers_need_a_suite_and_empty_batches_are_not_stored(registered, store_snapshot,
                                                               data) -> None:
    X, y = data
    with pytest.raises(ValidationError, match="%%modeltest"):
        checks.check("x", True)
    before = store_snapshot()
    checks.start("churn/1")
    with pytest.raises(ValidationError, match="no checks ran"):
        checks.finish()
    assert store_snapshot() == before
    with pytest.raises(ValidationError, match="no check suite"):
        checks.current()


def test_finish_promotes_only_when_all_passed(registered) -> None:
    checks.start("churn/1")
    checks.check("ok", True)
    suite = checks.finish(promote_to="production")
    assert suite.passed and nbmlops.get_model_version("churn@production").version == 1
    checks.start("churn/2")
    checks.check("bad", False, value=3, threshold={"max": 1})
    with pytest.raises(nbmlops.registry.aliases.PromotionBlocked):
        checks.finish(promote_to="production")
    assert nbmlops.get_model_version("churn@production").version == 1
    assert stored(2)[0]["value"] == 3


@pytest.fixture()
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.history_manager.enabled = False
    yield ip
    ip.ast_transformers[:] = [t for t in ip.ast_transformers if not isinstance(t, AssertToCheck)]


def test_cell_asserts_count_as_checks(registered, data, shell) -> None:
    shell.user_ns.update(X=data[0][["a", "b"]], y=data[1], model="mine")
    cell = (
        "from nbmlops.checks import check_metric\n"
        "from sklearn.metrics import accuracy_score\n"
        "check_metric('acc', accuracy_score, X, y, min=0.5)\n"
        "assert model_version.flavor == 'sklearn'\n"
        "assert len(X) > 10_000, f'only {len(X)} rows'\n"
        "for col in ['a', 'b']:\n"
        "    assert col in model_version.signature['columns']\n"
        "def helper():\n"
        "    assert True\n"
        "reached = True\n"
    )
    suite = run_check_cell(shell, "churn/1", cell)
    assert [r.check for r in suite.results] == [
        "acc", "assert model_version.flavor == 'sklearn'", "assert len(X) > 10000",
        "assert col in model_version.signature['columns']",
        "assert col in model_version.signature['columns']"]
    assert [r.passed for r in suite.results] == [True, True, False, True, True]
    assert suite.results[2].detail == "only 200 rows"
    assert shell.user_ns["reached"] is True  # a failing assert does not stop the cell
    assert shell.user_ns["model"] == "mine" and "model_version" not in shell.user_ns
    assert "check_metric" in shell.user_ns  # imported by the cell itself: kept
    assert not any(isinstance(t, AssertToCheck) for t in shell.ast_transformers)
    assert len(stored(1)) == 5
    shell.run_cell("assert True")  # asserts are plain asserts again
    assert len(stored(1)) == 5


def test_cell_errors_fail_the_batch(registered, shell) -> None:
    suite = run_check_cell(shell, "churn/1", "assert True\nundefined_name\n")
    assert [r.check for r in suite.results] == ["assert True", "cell raised NameError"]
    assert not suite.passed and not stored(1)[1]["passed"]


def test_cell_without_checks_stores_nothing(registered, shell, store_snapshot) -> None:
    before = store_snapshot()
    with pytest.raises(ValidationError, match="ran no checks"):
        run_check_cell(shell, "churn/1", "x = 1\n")
    assert store_snapshot() == before
    assert isinstance(np.asarray([1]), np.ndarray)
