"""The warm host: a process with the serving stack imported that forks model servers.

Importing what a server needs (NumPy, pandas, scikit-learn and skops, FastAPI,
uvicorn, SQLAlchemy) costs 3–4 s of CPU; loading a 100-tree forest costs ~0.2 s.
``deploy()`` therefore starts this host once per Python process (the notebook
kernel) and hands it each deployment: the host forks, and the child, in a new
session with its own log, environment and working directory, runs the same code
as ``nbmlops serve``. The first deploy of a session pays the imports once; every
later one costs the model load.

The host reads one JSON request per line on stdin and answers one line with the
child's pid. It exits when its stdin closes, i.e. when the process that started it
exits; servers it forked live on (they are in their own sessions, like any
deployment). It stays single-threaded, so forking it is safe.

Started early (when a model is registered in an interactive session, see
:func:`nbmlops.serving.deployments.prestart_warm_host`), the host runs under the
``SCHED_IDLE`` policy, so it only uses CPU time nothing else wants: the kernel's own
cells never wait for it. ``deploy()`` raises it back to normal priority when it needs
it, and every server it forks runs at normal priority.

After it says ``ready`` the host keeps importing the estimator modules most models
need (``EXTRA``), one at a time and only while no request waits, so a deploy never
waits for an import it does not need.

Set ``NBMLOPS_WARM_HOST=0`` to start every server as a fresh process instead.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
from collections.abc import Iterator
from typing import Any

#: modules every model server imports before it loads a model
PRELOAD = (
    "numpy", "pandas", "sqlalchemy", "fastapi", "uvicorn", "sklearn.base",
    "nbmlops.cli", "nbmlops.cli.serve", "nbmlops.serving.server", "nbmlops.serving.app",
    "nbmlops.serving.service", "nbmlops.serving.convert", "nbmlops.serving.workers",
    "nbmlops.registry.versions", "nbmlops.store.sql", "nbmlops.store.registry",
    "nbmlops.store.serving", "nbmlops.flavors.sklearn",
)
#: uvicorn's speed-ups, imported with PRELOAD when installed
OPTIONAL = ("uvloop", "httptools")
#: imported after ``ready`` while idle: what most models (and the ONNX runtimes) need
EXTRA = (
    "sklearn.ensemble", "sklearn.linear_model", "sklearn.pipeline", "sklearn.compose",
    "sklearn.preprocessing", "sklearn.impute", "sklearn.tree", "onnxruntime", "skl2onnx",
)
ENV = "NBMLOPS_WARM_HOST"


def _try_import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError:  # optional: the server imports what it needs itself
        pass


def preload() -> None:
    """Import the serving stack (optional speed-ups only when installed).

    skops is imported without its scan of every scikit-learn module
    (:func:`nbmlops.flavors.sklearn.import_skops_lean`).
    """
    from nbmlops.flavors.sklearn import import_skops_lean

    for name in PRELOAD:
        importlib.import_module(name)
    import_skops_lean()
    for name in OPTIONAL:
        _try_import(name)


def set_policy(pid: int, *, idle: bool) -> None:
    """Run ``pid`` (0: this process) under SCHED_IDLE (``idle``) or the normal policy.

    A no-op off Linux, when not allowed, or when the process is already gone.
    """
    try:
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER  # type: ignore[attr-defined,unused-ignore]
        os.sched_setscheduler(pid, policy, os.sched_param(0))  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        pass


def requests(fd: int, extra: tuple[str, ...] = EXTRA) -> Iterator[bytes]:
    """Yield request lines read from ``fd``; import ``extra`` modules while none waits."""
    pending, buf = list(extra), b""
    while True:
        while b"\n" not in buf:
            if pending and not select.select([fd], [], [], 0)[0]:
                _try_import(pending.pop(0))
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        yield line


def _child(req: dict[str, Any]) -> None:
    """Become the server described by ``req``; never returns."""
    code = 1
    try:
        os.setsid()  # its own session and process group, like a spawned deployment
        set_policy(0, idle=False)  # a server runs at normal priority, whatever its host's
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.argv = ["nbmlops", *req["argv"]]
        from nbmlops.cli import main

        main(req["argv"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def main() -> None:
    """Preload, say ``ready``, then fork one server per request line until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a kernel interrupt is not for us
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in requests(sys.stdin.fileno()):
        try:
            req = json.loads(line)
        except ValueError:
            continue
        out.flush()
        pid = os.fork()
        if pid == 0:
            _child(req)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
