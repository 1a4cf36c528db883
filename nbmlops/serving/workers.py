"""Pre-forked workers: the model is loaded once, then N workers are forked from it.

Forking after the load means a worker costs no import and no model load (uvicorn's
own multi-worker mode spawns fresh interpreters that each import everything and
load the model again: seconds per worker). Each worker runs its own event loop on
the shared listening socket; the kernel spreads connections between them.

The supervisor (the original process) waits for every worker to say it accepts
connections. A worker that exits during start-up fails the whole server: the
others are stopped and one ``Error:`` line names the worker and its exit status.
A worker that dies later is replaced. SIGTERM/SIGINT stop all workers.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from nbmlops.errors import DeployError

log = logging.getLogger("nbmlops.serving")

#: a worker that had been up this long and dies is replaced; earlier, the server gives up
START_GRACE = 10.0


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"was killed by signal {sig}"
    return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _fork(run: Callable[[Callable[[], None]], Any], ready_fd: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from nbmlops.serving.convert import _after_fork

        _after_fork()
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(1)  # one core per worker; OpenMP pools do not survive fork

        def ready() -> None:
            os.write(ready_fd, b"r")

        run(ready)
        code = 0
    except BaseException:  # never return into the supervisor's loop
        log.exception("worker %d failed", os.getpid())
    finally:
        os._exit(code)


def supervise(run: Callable[[Callable[[], None]], Any], workers: int) -> None:
    """Fork ``workers`` processes running ``run(ready)``; return when they have stopped."""
    rfd, wfd = os.pipe()
    os.set_blocking(rfd, False)
    children: dict[int, float] = {}
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        children[_fork(run, wfd)] = time.monotonic()
    ready = 0
    try:
        while children:
            try:
                ready += len(os.read(rfd, 64))
            except BlockingIOError:
                pass
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
                continue
            started = children.pop(pid, None)
            if started is None or stopping:
                continue  # the ONNX converter, or a worker we stopped
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                stop(signal.SIGTERM, None)  # a worker shut down cleanly: so do the others
                continue
            what = f"worker {pid} {_status(status)}"
            if ready < workers or time.monotonic() - started < START_GRACE:
                stop(signal.SIGTERM, None)
                _reap(children)
                raise DeployError(f"{what} during start-up; see the log above")
            log.error("%s; starting a new one", what)
            children[_fork(run, wfd)] = time.monotonic()
    finally:
        os.close(rfd)
        os.close(wfd)


def _reap(children: dict[int, float], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while children and time.monotonic() < deadline:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
