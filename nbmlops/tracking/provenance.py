"""Provenance: which cell execution produced each notebook variable, and whether it is stale.

After every cell (IPython's ``post_run_cell`` event) the tracker reads the cell's AST
to learn which names it assigned or modified and which names each of those was computed
from, and compares ``{name: id(value)}`` with the previous cell to catch names changed by
code it cannot see (``exec``, ``%run``, ``globals()`` writes). A ``%%track`` cell asks
:meth:`ProvenanceTracker.check` whether the variables it reads were produced in order.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from nbmlops.tracking.cellcode import (  # noqa: F401  (re-exported)
    MAX_SOURCE_CHARS,
    CellCode,
    analyze,
    cell_code,
    is_hidden,
    parse_cell,
    source_hash,
)


@dataclass
class Origin:
    """The cell execution that last assigned or modified one variable."""

    version: int  # tracker sequence number of that execution
    execution_count: int | None
    cell_id: str | None
    source_hash: str
    source: str
    reads: dict[str, int] = field(default_factory=dict)  # input name -> its version then
    visible: bool = True

    @property
    def label(self) -> str:
        """Return ``In[n]`` (or a stand-in when the execution count is unknown)."""
        n = self.execution_count
        return f"In[{n}]" if n is not None else f"cell #{self.version}"


@dataclass(frozen=True)
class ProvenanceReport:
    """The verdict of a check: status, human-readable reasons, per-variable origins."""

    status: str
    reasons: list[str]
    variables: dict[str, Any]

    def to_json(self) -> str:
        """Return the JSON stored in the runs table's ``provenance`` column."""
        return json.dumps({"reasons": self.reasons, "variables": self.variables}, default=str)


class ProvenanceTracker:
    """Per-kernel record of which execution produced every user variable."""

    def __init__(self) -> None:
        self.version = 0
        self.origins: dict[str, Origin] = {}
        self.ids: dict[str, int] = {}
        self.cells: dict[str, Origin] = {}  # cell id -> its latest execution
        self.counts: dict[int, int | None] = {0: None}  # version -> execution count
        #: the running cell's In[n]; get_tracker replaces this with the shell's count
        self.current_execution_count: Callable[[], int | None] = lambda: None
        self.hooks: list[tuple[str, Callable[[Any], None]]] = []

    def snapshot(self, ns: dict[str, Any]) -> dict[str, int]:
        """Return {name: id(value)} of the user's variables (modules left out)."""
        return {k: id(v) for k, v in ns.items()
                if not isinstance(v, ModuleType) and not is_hidden(k)}

    def baseline(self, ns: dict[str, Any]) -> None:
        """Take the namespace as it is now as the starting point."""
        self.ids = self.snapshot(ns)

    def record_cell(
        self, raw: str, ns: dict[str, Any], *, execution_count: int | None = None,
        cell_id: str | None = None, success: bool = True,
        transform: Callable[[str], str] | None = None,
    ) -> None:
        """Update every variable's origin after a cell ran."""
        self.version += 1
        self.counts[self.version] = execution_count
        code, visible = cell_code(raw)
        info = parse_cell(code, transform) if visible else None
        src = raw if len(raw) <= MAX_SOURCE_CHARS else raw[:MAX_SOURCE_CHARS] + "\n…"
        here = Origin(self.version, execution_count, cell_id, source_hash(raw), src)
        new_ids = self.snapshot(ns)
        before = {n: (o.version if (o := self.origins.get(n)) else 0) for n in self.ids}

        def origin(name: str, deps: frozenset[str]) -> Origin:
            # x += 1 or x.fit(...): x keeps the inputs of its previous value as well
            old = self.origins.get(name)
            reads = dict(old.reads) if old and (name in deps or name in modified) else {}
            reads.update({d: before[d] for d in deps if d in before and d != name})
            return Origin(here.version, execution_count, cell_id, here.source_hash, src, reads)

        handled: set[str] = set()
        modified = info.modified if info is not None and success else {}
        for name, deps in (info.assigned.items() if info is not None else ()):
            if name in new_ids and (success or self.ids.get(name) != new_ids[name]):
                self.origins[name] = origin(name, deps)
                handled.add(name)
        for name, deps in modified.items():
            if name in new_ids:
                self.origins[name] = origin(name, deps)
                handled.add(name)
        for name, ident in new_ids.items():
            if name not in handled and self.ids.get(name) != ident:
                self.origins[name] = Origin(here.version, execution_count, cell_id,
                                            here.source_hash, src, visible=False)
        for name in set(self.origins) - set(new_ids):
            del self.origins[name]
        self.ids = new_ids
        if cell_id:
            self.cells[cell_id] = here

    def check(self, reads: Iterable[str], *, notebook: str | None = None) -> ProvenanceReport:
        """Return whether the variables a tracked cell reads were produced in order."""
        saved = notebook_hashes(notebook) if notebook else None
        nb_name = Path(notebook).name if notebook else ""
        memo: dict[str, list[tuple[list[str], str]]] = {}
        reasons: list[str] = []
        variables: dict[str, Any] = {}
        for name in sorted(set(reads)):
            org = self.origins.get(name)
            if org is None:
                variables[name] = {"known": False}
                continue
            causes = self._causes(name, saved, nb_name, memo, set())
            variables[name] = self._describe(org, stale=bool(causes))
            for chain, message in causes:
                text = message if not chain else f"{name} depends on {' → '.join(chain)}: {message}"
                if text not in reasons:
                    reasons.append(text)
        return ProvenanceReport("stale" if reasons else "clean", reasons, variables)

    def _causes(self, name: str, saved: set[str] | None, nb_name: str,
                memo: dict[str, list[tuple[list[str], str]]],
                seen: set[str]) -> list[tuple[list[str], str]]:
        if name in memo:
            return memo[name]
        org = self.origins[name]
        out: list[tuple[list[str], str]] = []
        if not org.visible:
            out.append(([], f"{name} was assigned in {org.label} by code nbmlops could not "
                            "see (exec, %run, globals() or a cell magic)"))
        latest = self.cells.get(org.cell_id) if org.cell_id else None
        if latest is not None and latest.version > org.version and \
                latest.source_hash != org.source_hash:
            out.append(([], f"{name} was produced by {org.label}, whose cell was since edited "
                            f"and re-run as {latest.label} without reassigning {name}"))
        if saved is not None and org.visible and org.source_hash not in saved and \
                not org.source.lstrip().startswith("# Parameters"):
            out.append(([], f"{name} was produced by {org.label}, whose code no longer appears "
                            f"in {nb_name} (as saved on disk)"))
        seen = seen | {name}
        for dep, version in sorted(org.reads.items()):
            cur = self.origins.get(dep)
            if cur is None:
                if version:
                    out.append(([], f"{name} was computed in {org.label} from {dep}, which "
                                    "has since been deleted"))
            elif cur.version > org.version:
                out.append(([], f"{name} was computed in {org.label} from {dep}, which was "
                                f"reassigned in {cur.label}; {name} was not recomputed since"))
            elif cur.version == version and dep not in seen:
                for chain, message in self._causes(dep, saved, nb_name, memo, seen):
                    out.append(([dep, *chain], message))
        memo[name] = out
        return out

    def _describe(self, org: Origin, *, stale: bool) -> dict[str, Any]:
        reads = {d: self.counts.get(v) for d, v in sorted(org.reads.items())}
        return {"known": True, "execution_count": org.execution_count, "cell_id": org.cell_id,
                "source_hash": org.source_hash, "source": org.source, "reads": reads,
                "visible": org.visible, "stale": stale}


_nb_cache: dict[str, tuple[float, set[str]]] = {}


def notebook_hashes(path: str) -> set[str] | None:
    """Return the source hashes of a notebook file's code cells (None if unreadable)."""
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        return None
    cached = _nb_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        import nbformat

        nb = nbformat.read(path, as_version=4)
    except Exception:  # a half-saved or foreign file: no verdict rather than a wrong one
        return None
    hashes = {source_hash(c.source) for c in nb.cells if c.cell_type == "code"}
    _nb_cache[path] = (mtime, hashes)
    return hashes


_trackers: weakref.WeakKeyDictionary[Any, ProvenanceTracker] = weakref.WeakKeyDictionary()


def get_tracker(shell: Any) -> ProvenanceTracker:
    """Return the shell's tracker, installing its ``pre/post_run_cell`` hooks on first use."""
    tracker = _trackers.get(shell)
    if tracker is not None:
        return tracker
    tracker = _trackers[shell] = ProvenanceTracker()
    tracker.baseline(shell.user_ns)
    # IPython 9 increments execution_count before running a cell, IPython 8 after it;
    # learn which from the first cell rather than trusting a version number.
    state: dict[str, Any] = {"pre": None, "history": True, "offset": 1 if _ipython9() else 0}

    def pre_run_cell(info: Any) -> None:
        state["pre"], state["history"] = shell.execution_count, bool(info.store_history)

    def post_run_cell(result: Any) -> None:
        info = result.info
        if state["history"] and state["pre"] is not None and result.execution_count:
            state["offset"] = state["pre"] - result.execution_count
        try:
            tracker.record_cell(
                info.raw_cell or "", shell.user_ns, execution_count=result.execution_count,
                cell_id=getattr(info, "cell_id", None), success=bool(result.success),
                transform=shell.transform_cell,
            )
        except Exception:  # provenance must never break a user's cell
            tracker.baseline(shell.user_ns)

    def current_count() -> int:
        return int(shell.execution_count) - (state["offset"] if state["history"] else 0)

    tracker.current_execution_count = current_count
    tracker.hooks = [("pre_run_cell", pre_run_cell), ("post_run_cell", post_run_cell)]
    for event, hook in tracker.hooks:
        shell.events.register(event, hook)
    return tracker


def forget_tracker(shell: Any) -> None:
    """Drop the shell's tracker and unregister its hooks (tests, unloading)."""
    tracker = _trackers.pop(shell, None)
    for event, hook in tracker.hooks if tracker else []:
        shell.events.unregister(event, hook)


def _ipython9() -> bool:
    import IPython

    return IPython.version_info[0] >= 9


def save_report(run: Any, report: ProvenanceReport) -> None:
    """Store a provenance verdict on a run (``Run.provenance`` reads it back)."""
    run._store.update_run(run.id, provenance_status=report.status,
                          provenance=report.to_json())
