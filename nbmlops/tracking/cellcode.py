"""What a cell reads and writes: names loaded, assigned and modified, from its AST."""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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


def is_hidden(name: str) -> bool:
    """Return whether a namespace name is IPython's own bookkeeping (In, _3, _i3...)."""
    return _HIDDEN.fullmatch(name) is not None
