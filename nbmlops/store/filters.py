"""Parse ``runs(filter=...)`` expressions and compile them to SQL clauses.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := atom ("and" atom)*
    atom       := "(" expr ")" | column OP literal
    column     := metrics.KEY | params.KEY | tags.KEY | [attributes.]ATTR
    OP         := = | == | != | < | <= | > | >= | like | ilike
    literal    := number | 'text' | "text"

Keys containing other characters may be back-quoted: ``metrics.`val loss```.

An expression is bounded: at most ``MAX_FILTER_CHARS`` characters, ``MAX_DEPTH`` nested
parentheses and ``MAX_COMPARISONS`` comparisons; beyond them it is refused with a
FilterError (instead of exhausting Python's recursion or SQLite's expression depth).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol, Union

from nbmlops.errors import FilterError

PREFIXES = ("metrics", "params", "tags", "attributes")
ATTRIBUTES = {
    "run_id": "id",
    "id": "id",
    "name": "name",
    "status": "status",
    "start_time": "start_time",
    "end_time": "end_time",
    "duration": "duration",
    "notebook": "notebook_path",
    "notebook_path": "notebook_path",
    "git_commit": "git_commit",
    "provenance": "provenance_status",
    "parent_run_id": "parent_run_id",
}
#: limits on one filter expression (a user-given size: bounded like every other)
MAX_FILTER_CHARS = 10_000
MAX_DEPTH = 50
MAX_COMPARISONS = 200
#: at most this many ``order_by`` items
MAX_ORDER_BY = 20
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lp>\() | (?P<rp>\)) |
      (?P<op><=|>=|==|!=|<>|=|<|>) |
      (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_])) |
      (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") |
      (?P<ident>(?:[A-Za-z_][A-Za-z0-9_\-:]*|`[^`]+`)(?:\.(?:[A-Za-z0-9_\-:]+|`[^`]+`))*)
    )""",
    re.VERBOSE,
)


class KeySet(Protocol):
    """The known keys of one kind: filters test membership and list them in error messages."""

    def __contains__(self, key: object, /) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...


@dataclass(frozen=True)
class Comparison:
    """``column OP literal`` with the column split into (prefix, key)."""

    prefix: str
    key: str
    op: str
    value: Any
    position: int


@dataclass(frozen=True)
class BoolOp:
    """``and``/``or`` over sub-expressions."""

    op: str
    items: tuple[Node, ...]


Node = Union[Comparison, BoolOp]


def _shown(expr: str, limit: int = 80) -> str:
    """Return ``expr`` shortened for a one-line message."""
    return expr if len(expr) <= limit else expr[:limit] + "…"


def _tokenize(expr: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise FilterError(expr, f"unexpected character {expr[pos:].lstrip()[:1]!r}", pos)
        kind = m.lastgroup or ""
        start = m.start(kind)
        tokens.append((kind, m.group(kind), start))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, expr: str) -> None:
        if len(expr) > MAX_FILTER_CHARS:
            raise FilterError(_shown(expr), f"the expression is {len(expr):,} characters "
                              f"long; filters hold at most {MAX_FILTER_CHARS:,}")
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self, what: str) -> tuple[str, str, int]:
        tok = self._peek()
        if tok is None:
            raise FilterError(self.expr, f"expression ends early; expected {what}", len(self.expr))
        self.i += 1
        return tok

    def _keyword(self, word: str) -> bool:
        tok = self._peek()
        if tok and tok[0] == "ident" and tok[1].lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        if not self.tokens:
            raise FilterError(self.expr, "empty expression", 0)
        node = self._or()
        tok = self._peek()
        if tok is not None:
            raise FilterError(self.expr, f"unexpected {tok[1]!r}; expected 'and' or 'or'", tok[2])
        return node

    def _or(self) -> Node:
        items = [self._and()]
        while self._keyword("or"):
            items.append(self._and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def _and(self) -> Node:
        items = [self._atom()]
        while self._keyword("and"):
            items.append(self._atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def _atom(self) -> Node:
        kind, text, pos = self._next("a column such as metrics.acc")
        if kind == "lp":
            return self._group(pos)
        if kind != "ident":
            raise FilterError(self.expr, f"expected a column such as metrics.acc, got {text!r}",
                              pos)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise FilterError(_shown(self.expr), f"more than {MAX_COMPARISONS} comparisons; "
                              "split the query or filter the frame in pandas", pos)
        return self._comparison(text, pos)

    def _group(self, pos: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(_shown(self.expr), f"parentheses nested more than {MAX_DEPTH} deep",
                              pos)
        node = self._or()
        kind, text, p2 = self._next("')'")
        if kind != "rp":
            raise FilterError(self.expr, f"expected ')' but found {text!r}", p2)
        self.depth -= 1
        return node

    def _comparison(self, text: str, pos: int) -> Comparison:
        prefix, key = _split_column(self.expr, text, pos)
        op_tok = self._next("an operator (=, !=, <, <=, >, >=, like)")
        if op_tok[0] == "op":
            op = _OPS[op_tok[1]]
        elif op_tok[0] == "ident" and op_tok[1].lower() in {"like", "ilike"}:
            op = op_tok[1].lower()
        else:
            raise FilterError(
                self.expr, f"expected an operator (=, !=, <, <=, >, >=, like), got {op_tok[1]!r}",
                op_tok[2],
            )
        vkind, vtext, vpos = self._next("a value (a number or a quoted string)")
        if vkind == "num":
            value: Any = float(vtext)
        elif vkind == "str":
            value = re.sub(r"\\(.)", r"\1", vtext[1:-1])
        else:
            raise FilterError(
                self.expr, f"expected a number or a quoted string, got {vtext!r} "
                "(quote text values: params.model = 'rf')", vpos,
            )
        return Comparison(prefix, key, op, value, pos)


def _split_column(expr: str, text: str, pos: int) -> tuple[str, str]:
    head, _, rest = text.partition(".")
    head_l = head.lower()
    if head_l in {"metrics", "params", "tags", "metric", "param", "tag"} and rest:
        prefix = head_l if head_l.endswith("s") else head_l + "s"
        return prefix, rest.strip("`")
    if head_l in {"attributes", "attribute", "attr"} and rest:
        head_l, rest = rest.lower(), ""
    if not rest and head_l in ATTRIBUTES:
        return "attributes", ATTRIBUTES[head_l]
    raise FilterError(
        expr,
        f"unknown column {_shown(text)!r}; use metrics.<key>, params.<key>, tags.<key> or one of "
        + ", ".join(sorted(k for k in ATTRIBUTES if k != "id")),
        pos,
    )


def parse_filter(expr: str) -> Node:
    """Return the parsed expression tree, or raise FilterError naming the problem."""
    return _Parser(expr).parse()


def _to_epoch(expr: str, value: Any, pos: int) -> float:
    if isinstance(value, float):
        return value
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        problem = f"{value!r} is not an ISO date/time or epoch seconds"
        raise FilterError(expr, problem, pos) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _cmp(col: Any, op: str, value: Any) -> Any:
    if op == "like":
        return col.like(value)
    if op == "ilike":
        return col.ilike(value)
    return col.op(op)(value)


def compile_filter(expr: str, node: Node, known_keys: Callable[[str], KeySet]) -> Any:
    """Return a SQLAlchemy boolean clause over ``runs`` for a parsed expression.

    Each metric/param/tag comparison is a set of run ids, ``SELECT run_id … WHERE key = …
    AND value …``, which the covering (key, value, run_id) indexes answer without reading
    the tables; comparisons joined by AND/OR become one INTERSECT/UNION of those sets, and
    the clause is ``runs.id IN`` that set: the database combines the matching ids before it
    reads any run, instead of probing every run (a correlated ``EXISTS`` per run visited
    all 100,000 runs of a store when few matched). Pages, counts and whole results all use
    this one form.
    """
    return _Compiler(expr, known_keys).visit(node)


def has_value_comparison(node: Node) -> bool:
    """Return whether a parsed expression compares any metric, param or tag."""
    if isinstance(node, BoolOp):
        return any(has_value_comparison(i) for i in node.items)
    return node.prefix != "attributes"


class _Compiler:
    """Turns a parsed expression into SQL, checking keys and value types on the way."""

    def __init__(self, expr: str, known_keys: Callable[[str], KeySet]) -> None:
        self.expr, self.known_keys = expr, known_keys
        self._checked: set[tuple[str, str]] = set()  # keys looked up once per expression

    def visit(self, n: Node) -> Any:
        """Return the clause of ``n``.

        Each maximal subtree of metric/param/tag comparisons becomes ``runs.id IN`` one
        set expression (AND is INTERSECT, OR is UNION), so the database combines the
        matching run ids from the indexes before it reads any run.
        """
        from sqlalchemy import and_, or_

        from nbmlops.store import schema as s

        whole = self._set(n)
        if whole is not None:
            return s.runs.c.id.in_(whole)
        if not isinstance(n, BoolOp):
            return self._attribute(n)
        sets = [self._set(i) for i in n.items]
        parts = [self.visit(i) for i, q in zip(n.items, sets, strict=True) if q is None]
        pure = [q for q in sets if q is not None]
        if pure:
            parts.insert(0, s.runs.c.id.in_(self._combine(n.op, pure)))
        return and_(*parts) if n.op == "and" else or_(*parts)

    def _set(self, n: Node) -> Any:
        """Return a SELECT of the run ids ``n`` matches, or None if it tests run attributes."""
        if isinstance(n, BoolOp):
            items = [self._set(i) for i in n.items]
            if any(q is None for q in items):
                return None
            return self._combine(n.op, items)
        if n.prefix == "attributes":
            return None
        self._check_key(n)
        return {"metrics": self._metric, "params": self._param, "tags": self._tag}[n.prefix](n)

    @staticmethod
    def _combine(op: str, sets: list[Any]) -> Any:
        from sqlalchemy import intersect, select, union

        if len(sets) == 1:
            return sets[0]
        # a compound wrapped as a subquery: SQLite refuses parenthesised compounds
        compound = (intersect if op == "and" else union)(*sets).subquery()
        return select(compound.c.run_id)

    def _check_key(self, n: Comparison) -> None:
        if (n.prefix, n.key) in self._checked:  # _set may visit a subtree twice
            return
        known = self.known_keys(n.prefix)
        self._checked.add((n.prefix, n.key))
        if n.key not in known:
            hint = ", ".join(sorted(known)[:20]) or "none logged yet"
            raise FilterError(self.expr, f"unknown {n.prefix[:-1]} {n.key!r}; known "
                              f"{n.prefix}: {hint}", n.position)

    def _member(self, table: Any, key: str, cond: Any) -> Any:
        from sqlalchemy import select

        return select(table.c.run_id).where(table.c.key == key, cond)

    def _metric(self, n: Comparison) -> Any:
        from nbmlops.store import schema as s

        if not isinstance(n.value, float) or n.op in {"like", "ilike"}:
            raise FilterError(self.expr, f"metrics.{n.key} compares with numbers only",
                              n.position)
        t = s.latest_metrics
        return self._member(t, n.key, _cmp(t.c.value, n.op, n.value))

    def _param(self, n: Comparison) -> Any:
        from nbmlops.store import schema as s

        t = s.params
        if isinstance(n.value, float) and n.op not in {"like", "ilike"}:
            return self._member(t, n.key, _cmp(t.c.value_num, n.op, n.value))
        return self._member(t, n.key, _cmp(t.c.value, n.op, str(n.value)))

    def _tag(self, n: Comparison) -> Any:
        from nbmlops.store import schema as s

        return self._member(s.tags, n.key, _cmp(s.tags.c.value, n.op, str(n.value)))

    def _attribute(self, n: Comparison) -> Any:
        from nbmlops.store import schema as s

        if n.key in {"start_time", "end_time"}:
            return _cmp(s.runs.c[n.key], n.op, _to_epoch(self.expr, n.value, n.position))
        if n.key == "duration":
            if not isinstance(n.value, float):
                raise FilterError(self.expr, "duration compares with seconds (a number)",
                                  n.position)
            return _cmp(s.runs.c.end_time - s.runs.c.start_time, n.op, n.value)
        value = n.value
        if n.key == "status":
            value = str(value).upper()
        elif isinstance(value, float):
            raise FilterError(self.expr, f"{n.key} compares with quoted text", n.position)
        return _cmp(s.runs.c[n.key], n.op, value)


def compile_order_by(items: str | Sequence[str],
                     known_keys: Callable[[str], KeySet]) -> list[Any]:
    """Return SQLAlchemy ORDER BY clauses for items such as ``"metrics.acc DESC"``."""
    from sqlalchemy import select

    from nbmlops.store import schema as s

    items = [items] if isinstance(items, str) else items
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise FilterError(repr(items), "order_by is a string or a list of strings such as "
                          "'metrics.acc DESC'")

    if len(items) > MAX_ORDER_BY:
        raise FilterError(_shown(", ".join(items)), f"{len(items)} order_by items; "
                          f"at most {MAX_ORDER_BY}")
    clauses = []
    for item in items:
        if len(item) > MAX_FILTER_CHARS:
            raise FilterError(item, f"an order_by item of {len(item):,} characters; at most "
                              f"{MAX_FILTER_CHARS:,}")
        parts = item.strip().split()
        bad_direction = len(parts) == 2 and parts[1].upper() not in {"ASC", "DESC"}
        if not parts or len(parts) > 2 or bad_direction:
            raise FilterError(item, "order_by items look like 'metrics.acc DESC' or 'start_time'")
        prefix, key = _split_column(item, parts[0], 0)
        desc = len(parts) == 2 and parts[1].upper() == "DESC"
        if prefix == "metrics":
            t = s.latest_metrics
            col: Any = select(t.c.value).where(t.c.run_id == s.runs.c.id, t.c.key == key)
            col = col.scalar_subquery()
        elif prefix in {"params", "tags"}:
            t = s.params if prefix == "params" else s.tags
            col = select(t.c.value).where(t.c.run_id == s.runs.c.id, t.c.key == key)
            col = col.scalar_subquery()
        elif key == "duration":
            col = s.runs.c.end_time - s.runs.c.start_time
        else:
            col = s.runs.c[key]
        if prefix in {"metrics", "params", "tags"} and key not in known_keys(prefix):
            raise FilterError(item, f"unknown {prefix[:-1]} {key!r} in order_by")
        clauses.append((col.desc() if desc else col.asc()).nulls_last())
    return clauses
