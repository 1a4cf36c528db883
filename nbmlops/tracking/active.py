"""The process-wide stack of active runs that log_* calls attach to."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbmlops.tracking.run import Run

_lock = threading.Lock()
_stack: list[Run] = []


def push(run: Run) -> None:
    """Make ``run`` the active run."""
    with _lock:
        _stack.append(run)


def remove(run_id: str) -> None:
    """Drop a run (and any runs nested inside it) from the stack."""
    with _lock:
        for i, r in enumerate(_stack):
            if r.id == run_id:
                del _stack[i:]
                return


def current() -> Run | None:
    """Return the innermost active run, or None."""
    with _lock:
        return _stack[-1] if _stack else None


def all_active() -> list[Run]:
    """Return the active runs, outermost first."""
    with _lock:
        return list(_stack)


def clear() -> None:
    """Forget every active run (tests)."""
    with _lock:
        _stack.clear()
