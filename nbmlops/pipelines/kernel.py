"""A kernel manager that gives each step kernel its own environment and working folder.

papermill's ``cwd=`` changes the working directory of the whole process, which is
unsafe when several steps run in threads; setting ``cwd`` and ``env`` on the kernel
launch instead keeps every step independent. Imported only when a step executes.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Unicode

_lock = threading.Lock()
_pids: dict[str, int] = {}  # step token -> kernel pid, so a watchdog can kill on timeout
_expired: set[str] = set()  # tokens whose timeout passed before their kernel had started


class StepKernelManager(AsyncKernelManager):
    """AsyncKernelManager that adds ``extra_env`` and ``kernel_cwd`` to the kernel launch."""

    extra_env = Dict(help="variables added to the kernel's environment").tag(config=True)
    kernel_cwd = Unicode("", help="working directory of the kernel").tag(config=True)
    token = Unicode("", help="identifies the step execution for kill_kernel").tag(config=True)
    python = Unicode("", help="interpreter that runs an ipykernel kernel").tag(config=True)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """Return the launch command; an ipykernel one runs on ``python`` when it is set."""
        cmd: list[str] = super().format_kernel_cmd(extra_arguments)
        if self.python and cmd[1:3] == ["-m", "ipykernel_launcher"]:
            cmd = [self.python, *cmd[1:]]
        return cmd

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        env = dict(kw.pop("env", None) or os.environ)
        env.update(self.extra_env)
        kw["env"] = env
        if self.kernel_cwd:
            kw["cwd"] = self.kernel_cwd
        return await super()._async_pre_start_kernel(**kw)

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        await super()._async_post_start_kernel(**kw)
        pid = getattr(self.provisioner, "pid", None)
        if self.token and pid:
            with _lock:
                _pids[self.token] = int(pid)
                late = self.token in _expired
            if late:
                kill_kernel(self.token)


def kill_kernel(token: str) -> bool:
    """Kill the kernel of a step execution now; return whether one was running."""
    with _lock:
        pid = _pids.pop(token, None)
        if pid is None:
            _expired.add(token)
            return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def forget(token: str) -> None:
    """Drop the record of a finished step execution."""
    with _lock:
        _pids.pop(token, None)
        _expired.discard(token)
