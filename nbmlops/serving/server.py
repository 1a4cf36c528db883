"""The serving process: check the address, load the model, run uvicorn in the foreground.

``nbmlops serve`` calls :func:`serve`; ``deploy()`` starts the same command as a
background process. With ``workers > 1`` uvicorn forks workers that each build the
app through :func:`app_from_env` (the settings travel in ``NBMLOPS_SERVE_*``).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
import sys
from dataclasses import asdict
from typing import Any

from nbmlops.errors import DeployError

log = logging.getLogger("nbmlops.serving")

TOKEN_ENV = "NBMLOPS_SERVE_TOKEN"
_CONFIG_ENV = "NBMLOPS_SERVE_CONFIG"


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


def app_from_env() -> Any:
    """Return the app described by ``NBMLOPS_SERVE_CONFIG`` (uvicorn worker factory)."""
    from nbmlops.serving.app import ServeOptions

    cfg = json.loads(os.environ[_CONFIG_ENV])
    return build_app(cfg["ref"], runtime=cfg["runtime"], options=ServeOptions(**cfg["options"]),
                     poll_interval=cfg["poll_interval"])


def serve(ref: str, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
          runtime: str = "auto", token: str | None = None, max_body_bytes: int | None = None,
          batching: str = "on", log_predictions: bool = True, poll_interval: float = 1.0,
          log_level: str = "info") -> None:
    """Serve ``ref`` in the foreground until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    import uvicorn

    from nbmlops.serving.app import DEFAULT_MAX_BODY, ServeOptions

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers < 1:
        raise DeployError(f"workers must be at least 1; got {workers}")
    options = ServeOptions(token=resolve_token(host, token),
                           max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY,
                           batching=batching, log_predictions=log_predictions)
    sock = bind_socket(host, port)  # fail fast on a taken port, before loading the model
    common = dict(log_level="warning", access_log=False, timeout_graceful_shutdown=10,
                  **_uvicorn_speedups())
    if workers == 1:
        app = build_app(ref, runtime=runtime, options=options, poll_interval=poll_interval)
        server = uvicorn.Server(uvicorn.Config(app, **common))  # type: ignore[arg-type]
        log.info("listening on http://%s:%s", host, port)
        server.run(sockets=[sock])
        return
    os.environ[_CONFIG_ENV] = json.dumps({"ref": ref, "runtime": runtime, "options": asdict(
        options), "poll_interval": poll_interval})
    config = uvicorn.Config("nbmlops.serving.server:app_from_env", factory=True,
                            workers=workers, **common)  # type: ignore[arg-type]
    from uvicorn.supervisors import Multiprocess

    log.info("listening on http://%s:%s with %d workers", host, port, workers)
    Multiprocess(config, sockets=[sock]).run()
