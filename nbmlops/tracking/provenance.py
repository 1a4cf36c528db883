"""Provenance: which cell execution produced each notebook variable, and whether it is stale.

After every cell (IPython's ``post_run_cell`` event) the tracker reads the cell's AST
to learn which names it assigned or modified and which names each of those was computed
from, and compares ``{name: id(value)}`` with the previous cell to catch names changed by
code it cannot see (``exec``, ``%run``, ``globals()`` writes). A ``%%track`` cell asks
:meth:`ProvenanceTracker.check` whether the variables it reads were produced in order.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

#: cell magics that run their body in the user namespace without a nested run_cell
BODY_MAGICS = frozenset({"track", "time"})
#: expression-statement method calls that do not change their object
READ_ONLY_METHODS = frozenset({
    "head", "tail", "info", "describe", "sample", "score", "predict", "predict_proba",
    "predict_log_proba", "decision_function", "transform", "inverse_transform", "copy",
    "mean", "sum", "min", "max", "std", "var", "count", "nunique", "unique", "value_counts",
    "corr", "memory_usage", "hist", "boxplot", "items", "keys", "values", "format", "join",
    "savefig", "summary", "render", "log_metric", "log_metrics", "log_param", "log_params",
    "log_artifact", "log_model", "log_dataset", "set_tag", "set_tags", "debug", "warning",
    "error", "critical", "exception", "write", "dump", "dumps", "close", "flush",
})
_READ_ONLY_PREFIXES = ("get_", "to_", "plot", "show", "print", "display", "is_", "has_", "save")
_HIDDEN = re.compile(r"_+|_i+|_i?\d+|_oh|_ih|_dh|__.*|In|Out|exit|quit|get_ipython")
MAX_SOURCE_CHARS = 5000
_SCOPE = "<function scope>"  # marks names as local: nothing bound there is module-level


@dataclass(frozen=True)
class CellCode:
    """What a cell's code does to the namespace, from its AST alone."""

    assigned: dict[str, frozenset[str]]  # name -> outside names its new value came from
    modified: dict[str, frozenset[str]]  # name -> outside names mixed into it (x.fit(X))
    deleted: frozenset[str]
    reads: frozenset[str]  # names read before the cell itself assigned them


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _loads_and_stores(node: ast.AST) -> tuple[set[str], set[str]]:
    """Return (global names read, module-level names bound) by one statement."""
    loads: set[str] = set()
    stores: set[str] = set()
    stack: list[tuple[ast.AST, frozenset[str]]] = [(node, frozenset())]
    while stack:
        cur, local = stack.pop()
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(cur, ast.Lambda) and not local:
                stores.add(cur.name)
            inner = set(local) | {_SCOPE}
            if isinstance(cur, ast.ClassDef):
                stack.extend((b, local) for b in [*cur.bases, *cur.keywords])
            else:
                args = cur.args
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                          args.vararg, args.kwarg]:
                    if a is not None:
                        inner.add(a.arg)
                stack.extend((d, local) for d in args.defaults + args.kw_defaults if d)
            body = cur.body if isinstance(cur.body, list) else [cur.body]
            for sub in body:
                inner |= {n.id for n in ast.walk(sub)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            if not isinstance(cur, ast.Lambda):
                stack.extend((d, local) for d in cur.decorator_list)
            stack.extend((sub, frozenset(inner)) for sub in body)
            continue
        if isinstance(cur, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            targets = {n.id for g in cur.generators for n in ast.walk(g.target)
                       if isinstance(n, ast.Name)}
            stack.extend((c, local | targets) for c in ast.iter_child_nodes(cur))
            continue
        if isinstance(cur, ast.AugAssign) and isinstance(cur.target, ast.Name) and \
                cur.target.id not in local:
            loads.add(cur.target.id)  # x += 1 reads x
        if isinstance(cur, ast.Name):
            if isinstance(cur.ctx, ast.Load) and cur.id not in local:
                loads.add(cur.id)
            elif not local:
                stores.add(cur.id)
        elif isinstance(cur, ast.NamedExpr) and isinstance(cur.target, ast.Name):
            stores.add(cur.target.id)
        elif isinstance(cur, (ast.Import, ast.ImportFrom)) and not local:
            stores.update((a.asname or a.name).split(".")[0] for a in cur.names)
        elif isinstance(cur, ast.ExceptHandler) and cur.name and not local:
            stores.add(cur.name)
        stack.extend((c, local) for c in ast.iter_child_nodes(cur))
    return loads, stores


def _modifications(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """Return (names modified in place, names deleted) by a module-level statement."""
    modified: set[str] = set()
    deleted: set[str] = set()
    for node in _module_level(stmt):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            deleted.update(t.id for t in node.targets if isinstance(t, ast.Name))
            targets = [t for t in node.targets if not isinstance(t, ast.Name)]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Attribute) and _mutates(call):
                name = _root(call.func.value)
                if name:
                    modified.add(name)
        for target in targets:
            elts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
            for elt in elts:
                if isinstance(elt, (ast.Attribute, ast.Subscript)):
                    name = _root(elt)
                    if name:
                        modified.add(name)
    return modified, deleted


def _mutates(call: ast.Call) -> bool:
    method = call.func.attr  # type: ignore[attr-defined]
    if any(k.arg == "inplace" for k in call.keywords):
        return True
    if method not in READ_ONLY_METHODS and not method.startswith(_READ_ONLY_PREFIXES):
        return True
    inner = call.func.value  # type: ignore[attr-defined]
    while isinstance(inner, (ast.Call, ast.Attribute, ast.Subscript)):  # model.fit(X).score(..)
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and \
                inner.func.attr.startswith(("fit", "partial_fit")):
            return True
        inner = inner.func if isinstance(inner, ast.Call) else inner.value
    return False


def _module_level(stmt: ast.stmt) -> Iterable[ast.stmt]:
    """Yield a statement and the statements nested in its module-level blocks."""
    todo = [stmt]
    while todo:
        cur = todo.pop()
        yield cur
        if isinstance(cur, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for fld in ("body", "orelse", "finalbody"):
            todo.extend(getattr(cur, fld, []))
        for handler in getattr(cur, "handlers", []):
            todo.extend(handler.body)


def analyze(tree: ast.Module) -> CellCode:
    """Return the names a cell assigns, modifies, deletes and reads, with their inputs."""
    inputs: dict[str, set[str]] = {}  # name assigned in this cell -> outside names behind it
    assigned: set[str] = set()
    modified: dict[str, set[str]] = {}
    deleted: set[str] = set()
    reads: set[str] = set()
    for stmt in tree.body:
        loads, stores = _loads_and_stores(stmt)
        changed, gone = _modifications(stmt)
        outside = loads - assigned
        reads |= outside
        deps = set(outside)
        for name in loads & assigned:
            deps |= inputs.get(name, set())
        for name in stores:
            inputs[name] = set(deps)
            assigned.add(name)
            deleted.discard(name)
        for name in changed:
            if name in assigned:
                inputs[name] = inputs.get(name, set()) | deps
            else:
                modified.setdefault(name, set()).update(deps - {name})
        for name in gone:
            deleted.add(name)
            assigned.discard(name)
            inputs.pop(name, None)
    return CellCode(
        {n: frozenset(d) for n, d in inputs.items() if n in assigned},
        {n: frozenset(d) for n, d in modified.items() if n not in assigned},
        frozenset(deleted), frozenset(reads),
    )


def cell_code(raw: str) -> tuple[str, bool]:
    """Return (Python-ish code to analyse, whether its effects are visible) for a raw cell."""
    if raw.lstrip().startswith("%%"):
        first, _, body = raw.lstrip().partition("\n")
        magic = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        return (body, True) if magic in BODY_MAGICS else ("", False)
    return raw, True


def source_hash(source: str) -> str:
    """Return the hash under which a cell's source is compared (whitespace-trimmed)."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


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


def is_hidden(name: str) -> bool:
    """Return whether a namespace name is IPython's own bookkeeping (In, _3, _i3...)."""
    return _HIDDEN.fullmatch(name) is not None


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


def parse_cell(code: str, transform: Callable[[str], str] | None = None) -> CellCode | None:
    """Return the analysis of a cell's code, or None when it is not Python even transformed."""
    try:
        return analyze(ast.parse(code))
    except SyntaxError:
        pass
    if transform is None:
        return None
    try:
        return analyze(ast.parse(transform(code)))
    except (SyntaxError, ValueError):
        return None


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
