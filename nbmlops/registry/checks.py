"""Test gates: check helpers that record results into the current suite of a model version.

Use them inside ``%%modeltest name@alias`` (the suite is started for you), or in a checks
notebook / script::

    from nbmlops import checks
    suite = checks.start("churn/3")
    checks.check_metric("accuracy", accuracy_score, X_test, y_test, min=0.8)
    checks.finish()          # stores the batch; promotion looks at the latest batch

Every helper returns its :class:`CheckResult` and never raises on a failed check, so one
run shows every failure. A batch is stored as a whole, or not at all.
"""

from __future__ import annotations

import builtins
import math
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ModelNotFound, ValidationError
from nbmlops.tracking.values import plain

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.registry.versions import ModelVersion

BATCH_ENV = "NBMLOPS_CHECK_BATCH_ID"
_current: CheckSuite | None = None


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, the measured value and the threshold."""

    check: str
    passed: bool
    value: Any = None
    threshold: Any = None
    detail: str | None = None

    def as_row(self) -> dict[str, Any]:
        """Return the JSON-able row stored by RegistryStore.add_check_results."""
        return {"check": self.check, "passed": self.passed,
                "value": plain(self.value, nan_as_none=True),
                "threshold": plain(self.threshold, nan_as_none=True), "detail": self.detail}


@dataclass
class CheckSuite:
    """The checks of one execution (a batch) against one model version."""

    version: ModelVersion
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    results: list[CheckResult] = field(default_factory=list)
    load_options: dict[str, Any] = field(default_factory=dict)
    saved: bool = False
    _model: Any = None

    @property
    def model(self) -> Any:
        """Return the version's model, loaded (hash-verified) on first use."""
        if self._model is None:
            self._model = self.version.load(**self.load_options)
        return self._model

    @property
    def passed(self) -> bool:
        """Return whether at least one check ran and every check passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        """Return the failed checks."""
        return [r for r in self.results if not r.passed]

    def record(self, check: str, passed: bool, value: Any = None, threshold: Any = None,
               detail: str | None = None) -> CheckResult:
        """Add one result to the batch and return it."""
        if self.saved:
            raise ValidationError(f"check batch {self.batch_id} of {self.version.ref} is "
                                  "already stored; start a new one with checks.start()")
        result = CheckResult(check, bool(passed), value, threshold, detail)
        self.results.append(result)
        return result

    def record_assert(self, ok: Any, source: str, message: Callable[[], Any] | None) -> None:
        """Record a plain ``assert`` (rewritten by the %%modeltest cell runner) as a check."""
        detail = None
        if not ok and message is not None:
            detail = str(message())
        self.record(f"assert {source}", bool(ok), detail=detail)

    def record_error(self, exc: BaseException | None, where: str = "cell") -> CheckResult:
        """Record that the check code itself failed (the batch then fails)."""
        name = type(exc).__name__ if exc is not None else "error"
        return self.record(f"{where} raised {name}", False, detail=str(exc) if exc else None)

    def save(self) -> str:
        """Store the batch (all results at once) and return its id."""
        from nbmlops.registry.versions import _registry

        if not self.results:
            raise ValidationError(
                f"no checks ran against {self.version.ref}: call check_* helpers or write "
                "assert statements; nothing was stored"
            )
        reg, _ = _registry()
        reg.add_check_results(self.version.name, self.version.version, self.batch_id,
                              [r.as_row() for r in self.results])
        self.saved = True
        return self.batch_id

    def to_frame(self) -> pd.DataFrame:
        """Return the results as a DataFrame (check, passed, value, threshold, detail)."""
        import pandas as pd

        cols = ["check", "passed", "value", "threshold", "detail"]
        frame: pd.DataFrame = pd.DataFrame([r.as_row() for r in self.results], columns=cols)
        return frame

    def _repr_html_(self) -> str:
        from nbmlops.registry.cards import checks_table_html

        verdict = "all passed" if self.passed else f"{len(self.failed)} failed"
        title = f"checks of {self.version.ref} · {len(self.results)} run · {verdict}"
        return checks_table_html([r.as_row() for r in self.results], title)

    def __repr__(self) -> str:
        lines = [f"checks of {self.version.ref} (batch {self.batch_id[:8]}):"]
        lines += [f"  {'PASS' if r.passed else 'FAIL'}  {r.check}  value={r.value!r} "
                  f"threshold={r.threshold!r}" for r in self.results]
        return "\n".join(lines)


def _shell() -> Any:
    import sys

    ipython = sys.modules.get("IPython")  # only a shell that is already running counts
    return ipython.get_ipython() if ipython is not None else None


def start(ref: str, *, model: Any = None, batch_id: str | None = None,
          **load_options: Any) -> CheckSuite:
    """Start a check batch against ``ref`` (``name/3`` or ``name@alias``) and make it current.

    The version is resolved once, so moving an alias meanwhile does not change what is
    checked. ``batch_id`` defaults to ``$NBMLOPS_CHECK_BATCH_ID`` (set by
    ``nbmlops models check``) or a new id. In IPython, top-level ``assert`` statements
    of later cells count as checks until :func:`finish`.
    """
    global _current
    from nbmlops.registry.check_runner import install_assert_hook
    from nbmlops.registry.versions import get_model_version

    mv = get_model_version(ref)
    abort()
    _current = CheckSuite(mv, batch_id or os.environ.get(BATCH_ENV) or uuid.uuid4().hex,
                          load_options=load_options, _model=model)
    shell = _shell()
    if shell is not None:
        install_assert_hook(shell, _current)
    return _current


def abort() -> None:
    """Forget the current suite without storing it (and stop counting asserts)."""
    global _current
    from nbmlops.registry.check_runner import remove_assert_hook

    _current = None
    shell = _shell()
    if shell is not None:
        remove_assert_hook(shell)


def current() -> CheckSuite:
    """Return the current suite, or raise if none was started."""
    if _current is None:
        raise ValidationError(
            "no check suite is active: run checks inside %%modeltest NAME@ALIAS, or call "
            "nbmlops.checks.start('name/3') first"
        )
    return _current


def finish(*, promote_to: str | None = None, reason: str | None = None) -> CheckSuite:
    """Store the current batch, optionally promote the version, and return the suite.

    Promotion happens only when every check passed (the same gate as ``promote``).
    """
    suite = current()
    try:
        suite.save()
    finally:
        abort()
    if promote_to:
        from nbmlops.registry.aliases import promote

        promote(suite.version.name, suite.version.version, promote_to, reason=reason)
    return suite


def _model_of(model: Any) -> Any:
    return current().model if model is None else model


def _bounds(value: float, lo: float | None, hi: float | None) -> tuple[bool, Any]:
    ok = (lo is None or value >= lo) and (hi is None or value <= hi)
    if lo is not None and hi is not None:
        return ok, [lo, hi]
    if lo is not None:
        return ok, {"min": lo}
    return ok, {"max": hi}


def check(name: str, condition: Any, *, value: Any = None, threshold: Any = None,
          detail: str | None = None) -> CheckResult:
    """Record a named check that passes when ``condition`` is truthy."""
    return current().record(name, bool(condition), value, threshold, detail)


def check_metric(name: str, metric_fn: Callable[[Any, Any], float], X: Any, y: Any, *,
                 min: float | None = None, max: float | None = None,
                 model: Any = None) -> CheckResult:
    """Check ``metric_fn(y, model.predict(X))`` against ``min`` and/or ``max``."""
    if min is None and max is None:
        raise ValidationError(f"check_metric({name!r}) needs min=… and/or max=…")
    value = float(metric_fn(y, _model_of(model).predict(X)))
    ok, threshold = _bounds(value, min, max)
    return current().record(name, ok and not math.isnan(value), value, threshold)


def _baseline_ref(suite: CheckSuite, against: str | int) -> str:
    text = str(against)
    if "/" in text or "@" in text:
        return text
    name = suite.version.name
    return f"{name}/{text}" if text.isdigit() else f"{name}@{text}"


def check_no_regression(against: str | int = "production", *,
                        metric: Callable[[Any, Any], float], X: Any, y: Any,
                        tolerance: float = 0.0, higher_is_better: bool = True,
                        name: str | None = None, if_missing: str = "pass",
                        model: Any = None) -> CheckResult:
    """Check that the metric is no worse than the ``against`` version's, within ``tolerance``.

    ``against`` is an alias, a version number or a full reference. When it points nowhere
    (the first model of a name), the check passes with a note, or fails with
    ``if_missing="fail"``.
    """
    from nbmlops.registry.versions import get_model_version

    suite = current()
    label = name or f"no_regression_vs_{against}"
    ref = _baseline_ref(suite, against)
    try:
        base = get_model_version(ref)
    except ModelNotFound:
        return suite.record(label, if_missing == "pass", None, None,
                            f"no baseline: {ref} does not exist")
    cand = float(metric(y, _model_of(model).predict(X)))
    base_model = suite.model if base.ref == suite.version.ref and model is None else base.load(
        **suite.load_options)
    ref_value = float(metric(y, base_model.predict(X)))
    if higher_is_better:
        threshold = ref_value - tolerance
        ok = cand >= threshold
    else:
        threshold = ref_value + tolerance
        ok = cand <= threshold
    return suite.record(label, ok, cand, threshold, f"{base.ref} scores {ref_value:.6g}")


def check_latency(X_sample: Any, *, p95_ms: float, repeats: int = 30,
                  name: str = "latency_p95_ms", model: Any = None) -> CheckResult:
    """Check the 95th percentile of single-row predict latency (ms) is at most ``p95_ms``."""
    import numpy as np

    m = _model_of(model)
    rows = [X_sample.iloc[i:i + 1] if hasattr(X_sample, "iloc") else X_sample[i:i + 1]
            for i in range(len(X_sample))]
    if not rows:
        raise ValidationError("check_latency needs a non-empty X_sample")
    m.predict(rows[0])  # warm-up (lazy init, caches)
    timings = []
    for i in range(builtins.max(repeats, len(rows))):
        t0 = time.perf_counter()
        m.predict(rows[i % len(rows)])
        timings.append((time.perf_counter() - t0) * 1000)
    value = float(np.percentile(timings, 95))
    return current().record(name, value <= p95_ms, round(value, 4), {"max": p95_ms},
                            f"{len(timings)} single-row predictions")


def check_invariance(X: Any, perturb: Callable[[Any], Any], *, name: str = "invariance",
                     max_changed: float = 0.0, atol: float = 1e-9,
                     model: Any = None) -> CheckResult:
    """Check predictions stay the same when ``perturb(X)`` changes what should not matter.

    The value is the fraction of rows whose prediction changed; it must be at most
    ``max_changed``.
    """
    import numpy as np

    m = _model_of(model)
    before = np.asarray(m.predict(X))
    after = np.asarray(m.predict(perturb(X)))
    if before.dtype.kind in "fc" and after.dtype.kind in "fc":
        changed = ~np.isclose(before, after, atol=atol)
    else:
        changed = before != after
    frac = float(np.mean(changed)) if changed.size else 0.0
    return current().record(name, frac <= max_changed, frac, {"max": max_changed},
                            f"{int(np.sum(changed))} of {changed.size} predictions changed")


def check_slices(name: str, metric_fn: Callable[[Any, Any], float], X: Any, y: Any,
                 by: str | Sequence[Any], *, min: float | None = None,
                 max: float | None = None, min_rows: int = 1,
                 model: Any = None) -> list[CheckResult]:
    """Check the metric on every slice of ``X`` (by a column name or per-row labels).

    Each slice is one check, named ``name[value]``; slices smaller than ``min_rows``
    are skipped.
    """
    import numpy as np

    if min is None and max is None:
        raise ValidationError(f"check_slices({name!r}) needs min=… and/or max=…")
    m = _model_of(model)
    labels = np.asarray(X[by] if isinstance(by, str) else by)
    y_arr = np.asarray(y)
    pred = np.asarray(m.predict(X))
    out = []
    for value in sorted(set(labels.tolist()), key=str):
        mask = labels == value
        if int(mask.sum()) < min_rows:
            continue
        score = float(metric_fn(y_arr[mask], pred[mask]))
        ok, threshold = _bounds(score, min, max)
        out.append(current().record(f"{name}[{value}]", ok and not math.isnan(score), score,
                                    threshold, f"{int(mask.sum())} rows"))
    return out
