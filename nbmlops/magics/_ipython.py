"""Typed views of IPython's magic decorators (the same objects, with usable annotations).

``IPython.core.magic_arguments`` is not annotated, and ``line_magic``/``cell_magic`` are
annotated as returning ``_F | Callable[[_F], _F]`` with ``_F`` unbound, which type
checkers read as a decorator that accepts nothing. These aliases only re-type them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast, overload

from IPython.core import magic as _magic
from IPython.core import magic_arguments as _magic_arguments

__all__ = ["argument", "cell_magic", "line_magic", "magic_arguments", "parse_argstring"]

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
parse_argstring = cast(Callable[[Callable[..., Any], str], argparse.Namespace],
                       _magic_arguments.parse_argstring)
