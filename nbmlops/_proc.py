"""Process liveness checks shared by run reaping and deployments."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    """Return whether process ``pid`` runs on this host (a zombie counts as dead)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
