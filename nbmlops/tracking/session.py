"""The kernel's execution history up to a run, kept so ``reproduce`` can replay it.

A run made in a notebook knows its own cell, but what it read came from the cells executed
before it, in the order they ran (not the order they sit in a notebook, which may not even
be saved). The raw inputs of this kernel session, up to and including the cell that started
the run, are stored as one content-addressed blob (identical histories are stored once)
whose hash the run keeps in the ``nbmlops.session`` tag. A papermill execution is
recognised by the cell papermill injects (``# Parameters`` then assignments); its parameters
are kept alongside.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbmlops.tracking.run import Run

SESSION_TAG = "nbmlops.session"
#: a history larger than this (JSON bytes) is not recorded; the tag says so
MAX_BYTES = 4_000_000
_PAPERMILL_HEADER = "# Parameters\n"


def kernel_shell() -> Any:
    """Return the IPython shell when this process is a Jupyter kernel, else None."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def history(shell: Any) -> list[str]:
    """Return the raw cells this shell has executed, in order (the running one last)."""
    manager = getattr(shell, "history_manager", None)
    return [str(c) for c in (getattr(manager, "input_hist_raw", None) or [])[1:]]


def papermill_parameters(cells: list[str]) -> dict[str, Any] | None:
    """Return the parameters papermill injected into the session, or None if it did not."""
    for cell in cells:
        if not cell.startswith(_PAPERMILL_HEADER):
            continue
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue
        params: dict[str, Any] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                try:
                    params[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    params[node.targets[0].id] = ast.unparse(node.value)
        return params
    return None


def record_session(run: Run, shell: Any) -> None:
    """Store ``shell``'s execution history on ``run`` (once per run; nothing without history)."""
    cells = history(shell)
    if not cells:
        return
    doc = {"cells": cells, "cwd": os.getcwd(), "python": sys.executable,
           "papermill": papermill_parameters(cells)}
    data = json.dumps(doc).encode()
    if len(data) > MAX_BYTES:
        run.set_tags({SESSION_TAG: f"not recorded: the history is over {MAX_BYTES} bytes"})
        return
    sha, _ = run._artifacts.put_bytes(data)
    run.set_tags({SESSION_TAG: sha})


def load_session(run: Run) -> dict[str, Any] | None:
    """Return the history recorded for ``run`` (cells, cwd, python, papermill), or None."""
    sha = run.tags.get(SESSION_TAG, "")
    if len(sha) != 64:
        return None
    doc: dict[str, Any] = json.loads(run._artifacts.get_bytes(sha))
    return doc
