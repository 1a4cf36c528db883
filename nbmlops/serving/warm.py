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

Set ``NBMLOPS_WARM_HOST=0`` to start every server as a fresh process instead.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

#: modules every model server imports before it loads a model
PRELOAD = (
    "numpy", "pandas", "sqlalchemy", "fastapi", "uvicorn", "skops.io", "sklearn.base",
    "nbmlops.cli", "nbmlops.cli.serve", "nbmlops.serving.server", "nbmlops.serving.app",
    "nbmlops.serving.service", "nbmlops.serving.convert", "nbmlops.serving.workers",
    "nbmlops.registry.versions", "nbmlops.store.sql", "nbmlops.store.registry",
    "nbmlops.store.serving", "nbmlops.flavors.sklearn",
)
OPTIONAL = ("uvloop", "httptools", "skl2onnx", "onnxruntime")
ENV = "NBMLOPS_WARM_HOST"


def preload() -> None:
    """Import the serving stack (optional speed-ups and ONNX only when installed)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    for name in OPTIONAL:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _child(req: dict[str, Any]) -> None:
    """Become the server described by ``req``; never returns."""
    code = 1
    try:
        os.setsid()  # its own session and process group, like a spawned deployment
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
    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a kernel interrupt is not for us
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
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
