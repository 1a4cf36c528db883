"""Typed views of IPython's magic decorators (the same objects, with usable annotations).

``IPython.core.magic_arguments`` is not annotated, and ``line_magic``/``cell_magic`` are
annotated as returning ``_F | Callable[[_F], _F]`` with ``_F`` unbound, which type
checkers read as a decorator that accepts nothing. These aliases only re-type them.
``parse_argstring`` also drops a trailing ``# comment`` (see ``strip_comment``), as every
nbmlops magic does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast, overload

from IPython.core import magic as _magic
from IPython.core import magic_arguments as _magic_arguments

__all__ = [
    "argument", "cell_magic", "line_magic", "magic_arguments", "parse_argstring", "strip_comment",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class Decorator(Protocol):
    """A decorator that returns the function it is given (registering it on the way)."""

    def __call__(self, func: _F, /) -> _F: ...


class MagicMarker(Protocol):
    """``@line_magic`` / ``@line_magic("name")`` (and the same for ``cell_magic``)."""

    @overload
    def __call__(self, name: str, /) -> Decorator: ...

    @overload
    def __call__(self, func: _F, /) -> _F: ...


line_magic = cast(MagicMarker, _magic.line_magic)
cell_magic = cast(MagicMarker, _magic.cell_magic)
magic_arguments = cast(Callable[[], Decorator], _magic_arguments.magic_arguments)
argument = cast(Callable[..., Decorator], _magic_arguments.argument)


def strip_comment(line: str) -> str:
    """Return a magic's line without its trailing ``# comment``.

    A comment starts at a ``#`` outside quotes that begins a word (at the start of the line
    or after whitespace), as in a shell; so ``%deploy churn@production  # HTTP service``
    and ``%runs params.tag = 'a # b'`` both mean what a reader expects, and ``run#2`` stays
    a value.
    """
    quote: str | None = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def parse_argstring(magic_func: Callable[..., Any], line: str) -> argparse.Namespace:
    """Return the parsed arguments of ``line`` (its trailing comment removed).

    A line that cannot be split into words (an unclosed quote) is a UsageError, like
    any other bad argument, instead of shlex's bare ValueError.
    """
    from IPython.core.error import UsageError

    parse = cast(Callable[[Callable[..., Any], str], argparse.Namespace],
                 _magic_arguments.parse_argstring)
    try:
        return parse(magic_func, strip_comment(line))
    except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
        name = getattr(magic_func, "__name__", "magic")
        raise UsageError(f"%{name}: cannot split the arguments: {exc}") from None
