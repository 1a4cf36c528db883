"""The serving process: check the address, load the model, run uvicorn in the foreground.

``nbmlops serve`` calls :func:`serve`; ``deploy()`` starts the same function in a
background process (forked from a warm host, see :mod:`nbmlops.serving.warm`). With
``workers > 1`` the model is loaded once and the workers are forked from it
(:mod:`nbmlops.serving.workers`).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from nbmlops.errors import DeployError

log = logging.getLogger("nbmlops.serving")

TOKEN_ENV = "NBMLOPS_SERVE_TOKEN"
#: when the start of a server was asked for (``deploy()`` sets it), for the start-up timings
T0_ENV = "NBMLOPS_SERVE_T0"
_IMPORTED = time.time()
#: more workers than this per core only add memory and contention
MAX_WORKERS_PER_CORE = 4


def is_loopback(host: str) -> bool:
    """Return whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """Return the bearer token to require; refuse to expose a model without one."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(host):
        raise DeployError(
            f"binding to {host} exposes the model beyond this machine, so a bearer token is "
            f"required: pass --token (token=…) or set {TOKEN_ENV}"
        )
    return token


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening socket on (host, port); raise DeployError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and without it keep-alive clients wait 40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DeployError(f"port {port} on {host} is already in use; pick another port "
                              "(or leave it out to use a free one)") from None
        raise DeployError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _uvicorn_speedups() -> dict[str, str]:
    # httptools/uvloop roughly halve per-request overhead when installed (uvicorn[standard])
    opts = {}
    for module, key, value in (("httptools", "http", "httptools"), ("uvloop", "loop", "uvloop")):
        try:
            __import__(module)
            opts[key] = value
        except ImportError:
            pass
    return opts


def build_app(ref: str, *, runtime: str = "auto", options: Any = None,
              poll_interval: float = 1.0) -> Any:
    """Return the ASGI app for ``ref`` (a registry reference or a package folder)."""
    from nbmlops.serving.app import create_app
    from nbmlops.serving.service import load_service

    service = load_service(ref, runtime, poll_interval)
    cur = service.current
    log.info("serving %s version %s with %s", cur.name, cur.version, cur.runtime_reason)
    return create_app(service, options)


def default_workers() -> int:
    """Return the number of CPU cores this process may run on (the default worker count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def process_start_time() -> float:
    """Return when the serving process (or the ``deploy()`` that started it) began."""
    if os.environ.get(T0_ENV):
        return float(os.environ[T0_ENV])
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(ln.split()[1]) for ln in f if ln.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        return _IMPORTED


def serve(ref: str, *, host: str = "127.0.0.1", port: int = 8080, workers: int | None = 1,
          runtime: str = "auto", token: str | None = None, max_body_bytes: int | None = None,
          batching: str = "on", log_predictions: bool = True, poll_interval: float = 1.0,
          log_level: str = "info", max_rows: int | None = None) -> None:
    """Serve ``ref`` in the foreground until interrupted (SIGINT/SIGTERM stop it cleanly).

    ``workers=None`` runs one worker per available core. Workers are forked after the
    model is loaded (each one does not load it again); the first deploy of a version
    forks its ONNX conversion too (see :mod:`nbmlops.serving.convert`).
    """
    import uvicorn

    from nbmlops.serving.app import DEFAULT_MAX_BODY, ServeOptions

    t0 = process_start_time()
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cores = default_workers()
    workers = cores if workers is None else workers
    if not 1 <= workers <= MAX_WORKERS_PER_CORE * cores:
        raise DeployError(f"workers must be between 1 and {MAX_WORKERS_PER_CORE * cores} "
                          f"({MAX_WORKERS_PER_CORE} per CPU core here); got {workers}")
    options = ServeOptions(token=resolve_token(host, token),
                           max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY,
                           batching=batching, log_predictions=log_predictions,
                           **({"max_rows": max_rows} if max_rows else {}))
    sock = bind_socket(host, port)  # fail fast on a taken port, before loading the model
    started = time.time()
    from nbmlops.flavors.sklearn import import_skops_lean

    import_skops_lean()  # a server's biggest import, without its scan of scikit-learn
    app = build_app(ref, runtime=runtime, options=options, poll_interval=poll_interval)
    service = app.state.service
    app.state.sibling_workers = workers > 1  # feedback may name a sibling's prediction
    service.startup = {"start": round(started - t0, 3), **service.startup}
    loaded = time.time()
    service.convert_pending()
    speedups: dict[str, Any] = _uvicorn_speedups()
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=10, **speedups)

    def on_started() -> None:
        if "ready" not in service.startup:
            service.startup["ready"] = round(time.time() - loaded, 3)
            service.startup["total"] = round(time.time() - t0, 3)
        log.info("ready in %.2fs (%s) on http://%s:%s%s", service.startup["total"],
                 ", ".join(f"{k} {v:.2f}s" for k, v in service.startup.items() if k != "total"),
                 host, port, f" with {workers} workers" if workers > 1 else "")

    if workers == 1:
        _server(config, on_started).run(sockets=[sock])
        return
    from nbmlops.serving.workers import supervise

    def run_worker(ready: Callable[[], None]) -> None:
        def started() -> None:
            on_started()
            ready()

        _server(config, started).run(sockets=[sock])

    supervise(run_worker, workers)


def _server(config: Any, on_started: Callable[[], Any]) -> Any:
    """Return a uvicorn Server that calls ``on_started`` once it accepts connections."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started()

    return Server(config)
