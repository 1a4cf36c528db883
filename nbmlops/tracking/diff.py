"""Diff two runs: params, metrics, code, input data, environment and provenance."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError

if TYPE_CHECKING:
    from nbmlops.config import Settings
    from nbmlops.entities import DatasetInfo
    from nbmlops.tracking.run import Run

#: the artifact a pipeline step run stores its executed notebook under
NOTEBOOK_ARTIFACT = "executed.ipynb"
#: at most this many packages per environment list are kept (a venv can hold thousands)
MAX_PACKAGES = 500


@dataclass(frozen=True)
class Change:
    """One key whose value differs: ``kind`` is 'added' (only in b), 'removed' or 'changed'."""

    key: str
    a: Any
    b: Any
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"key": self.key, "a": _json(self.a), "b": _json(self.b), "kind": self.kind}


@dataclass(frozen=True)
class MetricChange:
    """A metric's latest value in each run; ``delta`` is b - a when both are numbers."""

    key: str
    a: float | None
    b: float | None
    delta: float | None
    kind: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"key": self.key, "a": _json(self.a), "b": _json(self.b),
                "delta": _json(self.delta), "kind": self.kind}


@dataclass(frozen=True)
class DataChange:
    """An input dataset (matched by name) whose fingerprint differs between the runs."""

    name: str
    kind: str
    a_fingerprint: str | None
    b_fingerprint: str | None
    a_shape: tuple[int, ...] | None
    b_shape: tuple[int, ...] | None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    dtypes_changed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "name": self.name, "kind": self.kind,
            "a_fingerprint": self.a_fingerprint, "b_fingerprint": self.b_fingerprint,
            "a_shape": list(self.a_shape) if self.a_shape is not None else None,
            "b_shape": list(self.b_shape) if self.b_shape is not None else None,
            "columns_added": self.columns_added, "columns_removed": self.columns_removed,
            "dtypes_changed": {k: list(v) for k, v in self.dtypes_changed.items()},
        }


@dataclass(frozen=True)
class EnvironmentDiff:
    """Packages added (only in b), removed (only in a) and changed ({name: (a, b)})."""

    captured: tuple[bool, bool]
    python: tuple[str | None, str | None] | None = None
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Return whether the environments match (or neither was captured)."""
        return not (self.python or self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "captured": {"a": self.captured[0], "b": self.captured[1]},
            "python": list(self.python) if self.python else None,
            "added": self.added, "removed": self.removed,
            "changed": {k: list(v) for k, v in self.changed.items()},
        }


@dataclass(frozen=True)
class RunDiff:
    """What differs between run ``a`` and run ``b`` (b is read as the newer one)."""

    a: str
    b: str
    a_name: str
    b_name: str
    params: list[Change]
    metrics: list[MetricChange]
    code: str
    code_kind: str | None
    data: list[DataChange]
    environment: EnvironmentDiff
    provenance: list[Change]
    same_params: int = 0

    @property
    def empty(self) -> bool:
        """Return whether nothing differs."""
        return not (self.params or self.metrics or self.code or self.data
                    or not self.environment.empty or self.provenance)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (NaN as null, infinities as "inf"/"-inf")."""
        return {
            "a": {"run_id": self.a, "name": self.a_name},
            "b": {"run_id": self.b, "name": self.b_name},
            "params": [c.to_dict() for c in self.params],
            "same_params": self.same_params,
            "metrics": [m.to_dict() for m in self.metrics],
            "code": self.code, "code_kind": self.code_kind,
            "data": [d.to_dict() for d in self.data],
            "environment": self.environment.to_dict(),
            "provenance": [c.to_dict() for c in self.provenance],
            "empty": self.empty,
        }

    def _repr_html_(self) -> str:
        from nbmlops.tracking.diff_card import diff_card

        return diff_card(self)

    def __repr__(self) -> str:
        parts = [f"{len(self.params)} params", f"{len(self.metrics)} metrics",
                 "code" if self.code else "same code", f"{len(self.data)} datasets",
                 "environment" if not self.environment.empty else "same environment"]
        return f"<RunDiff {self.a_name!r} -> {self.b_name!r}: {', '.join(parts)}>"


def diff_runs(a: str | Run, b: str | Run, *, settings: Settings | None = None) -> RunDiff:
    """Return a :class:`RunDiff` of run ``a`` against run ``b`` (ids or Run objects).

    Params and metrics list only the keys whose values differ; ``code`` is a unified diff
    of the cell source (or of the executed notebook's code cells for pipeline steps);
    ``data`` lists input datasets whose fingerprints differ with their shape and column
    changes; ``environment`` lists packages added, removed and changed.

    Parameters
    ----------
    a, b : str or Run
        The two runs (ids or Run objects); ``a`` is the baseline.
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    RunDiff
        The differences; it renders as HTML in a notebook and ``to_dict()`` is JSON-able.

    Raises
    ------
    RunNotFound
        When either id names no run.
    """
    run_a, run_b = _run(a, settings), _run(b, settings)
    params, same = _value_changes(run_a.params, run_b.params)
    return RunDiff(
        a=run_a.id, b=run_b.id, a_name=run_a.name, b_name=run_b.name,
        params=params, same_params=same,
        metrics=_metric_changes(run_a.metrics, run_b.metrics),
        code=_code_diff(run_a, run_b), code_kind=_code_kind(run_a, run_b),
        data=_data_changes(run_a.datasets, run_b.datasets),
        environment=_environment_diff(run_a.environment, run_b.environment),
        provenance=_provenance_changes(run_a, run_b),
    )


def _run(ref: str | Run, settings: Settings | None) -> Run:
    from nbmlops.tracking.api import resolve_run
    from nbmlops.tracking.run import Run

    if isinstance(ref, Run):
        return ref
    if not isinstance(ref, str) or not ref:
        raise ValidationError(f"a run to diff must be a run id or a Run, got {ref!r}")
    return resolve_run(ref, settings=settings)


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(type(x) is type(y) and x == y) or (_num(x) and _num(y) and x == y)


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _value_changes(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[Change], int]:
    out, same = [], 0
    for key in sorted(set(a) | set(b)):
        if key not in b:
            out.append(Change(key, a[key], None, "removed"))
        elif key not in a:
            out.append(Change(key, None, b[key], "added"))
        elif not _same(a[key], b[key]):
            out.append(Change(key, a[key], b[key], "changed"))
        else:
            same += 1
    return out, same


def _metric_changes(a: dict[str, float], b: dict[str, float]) -> list[MetricChange]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x is not None and y is not None and _same(x, y):
            continue
        kind = "removed" if y is None else "added" if x is None else "changed"
        delta = y - x if x is not None and y is not None else None
        if delta is not None and math.isnan(delta):
            delta = None
        out.append(MetricChange(key, x, y, delta, kind))
    return out


def _code_kind(a: Run, b: Run) -> str | None:
    if a.source is not None and b.source is not None:
        return "cell"
    if _notebook_source(a) is not None or _notebook_source(b) is not None:
        return "notebook"
    return "cell" if a.source is not None or b.source is not None else None


def run_code(run: Run) -> str | None:
    """Return the code that made a run: its cell source, else its executed notebook's code."""
    if run.source is not None:
        return run.source
    return _notebook_source(run)


def _notebook_source(run: Run) -> str | None:
    from nbmlops.errors import ArtifactNotFound

    if not any(a.name == NOTEBOOK_ARTIFACT for a in run.artifacts):
        return None
    try:
        nb = json.loads(run.load_artifact(NOTEBOOK_ARTIFACT))
    except (ArtifactNotFound, ValueError):
        return None
    cells = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            cells.append(f"# --- cell {i} ---\n{src.rstrip()}\n")
    return "".join(cells)


def _code_diff(a: Run, b: Run) -> str:
    src_a, src_b = run_code(a), run_code(b)
    if src_a is None and src_b is None:
        return ""
    lines = difflib.unified_diff(
        (src_a or "").splitlines(keepends=True), (src_b or "").splitlines(keepends=True),
        fromfile=f"a/{a.name} ({a.id[:8]})", tofile=f"b/{b.name} ({b.id[:8]})",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _data_changes(a: list[DatasetInfo], b: list[DatasetInfo]) -> list[DataChange]:
    ins_a = {d.name: d for d in a if d.role == "input"}
    ins_b = {d.name: d for d in b if d.role == "input"}
    out = []
    for name in sorted(set(ins_a) | set(ins_b)):
        x, y = ins_a.get(name), ins_b.get(name)
        if x is not None and y is not None and x.fingerprint == y.fingerprint:
            continue
        if x is None or y is None:
            only = x or y
            assert only is not None
            out.append(DataChange(
                name, "removed" if y is None else "added",
                x.fingerprint if x else None, y.fingerprint if y else None,
                tuple(x.shape) if x else None, tuple(y.shape) if y else None))
            continue
        types_a, types_b = (dict(zip(x.columns, x.dtypes, strict=False)),
                            dict(zip(y.columns, y.dtypes, strict=False)))
        out.append(DataChange(
            name, "changed", x.fingerprint, y.fingerprint, tuple(x.shape), tuple(y.shape),
            columns_added=[c for c in y.columns if c not in types_a],
            columns_removed=[c for c in x.columns if c not in types_b],
            dtypes_changed={c: (types_a[c], types_b[c]) for c in y.columns
                            if c in types_a and c in types_b and types_a[c] != types_b[c]},
        ))
    return out


def _environment_diff(a: dict[str, Any], b: dict[str, Any]) -> EnvironmentDiff:
    captured = (bool(a), bool(b))
    if not (a and b):
        return EnvironmentDiff(captured)
    pa, pb = a.get("packages", {}), b.get("packages", {})
    py = (a.get("python_version"), b.get("python_version"))
    return EnvironmentDiff(
        captured,
        python=py if py[0] != py[1] else None,
        added=_cap({k: v for k, v in pb.items() if k not in pa}),
        removed=_cap({k: v for k, v in pa.items() if k not in pb}),
        changed=_cap({k: (pa[k], pb[k]) for k in pb if k in pa and pa[k] != pb[k]}),
    )


def _cap(d: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(d.items())[:MAX_PACKAGES])


def _provenance_changes(a: Run, b: Run) -> list[Change]:
    ra, rb = a.info, b.info
    pa, pb = a.provenance, b.provenance
    fields = {
        "experiment": (ra.experiment, rb.experiment),
        "status": (ra.status.value, rb.status.value),
        "provenance": (pa.status, pb.status),
        "stale_reasons": ("; ".join(pa.reasons) or None, "; ".join(pb.reasons) or None),
        "git_commit": (ra.git_commit, rb.git_commit),
        "git_dirty": (ra.git_dirty, rb.git_dirty),
        "notebook_path": (ra.notebook_path, rb.notebook_path),
        "parent_run_id": (ra.parent_run_id, rb.parent_run_id),
    }
    out = []
    for key, (x, y) in fields.items():
        if x == y:
            continue
        kind = "added" if x is None else "removed" if y is None else "changed"
        out.append(Change(key, x, y, kind))
    return out


def _json(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value

