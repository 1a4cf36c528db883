"""Background deployments: start ``nbmlops serve`` as a process, record it, list and stop it."""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbmlops._proc import pid_alive as _pid_alive
from nbmlops.errors import DeployError
from nbmlops.names import validate_name
from nbmlops.serving.server import bind_socket, free_port, resolve_token
from nbmlops.serving.warm import set_policy

HOSTNAME = socket.gethostname()
ACTIVE = ("starting", "running")
READY_TIMEOUT = 120.0

#: Popen objects of servers this process started, so stopped ones get reaped
_children: dict[int, subprocess.Popen[bytes]] = {}
#: the warm host of this process (see nbmlops.serving.warm); NBMLOPS_WARM_HOST=0 disables it
WARM_ENV = "NBMLOPS_WARM_HOST"
#: when to start the warm host before the first deploy: 1 (a registration), load, 0 (never)
PREWARM_ENV = "NBMLOPS_PREWARM"
_warm: subprocess.Popen[bytes] | None = None
_warm_ready = False
_warm_lock = threading.Lock()
_warm_registered = False


def _store() -> Any:
    from nbmlops.store.serving import serving_store

    return serving_store()


def http_client(timeout: float = 30.0) -> Any:
    """Return an httpx.Client with TCP_NODELAY (no 40 ms Nagle/delayed-ACK stalls)."""
    import httpx

    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(socket_options=nodelay))


def pid_alive(pid: int | None) -> bool:
    """Return whether a server process is running (a zombie counts as dead)."""
    child = _children.get(pid) if pid else None
    if child is not None:
        return child.poll() is None
    return _pid_alive(pid)


class Deployment:
    """A model server started by ``deploy()``: its URL, live status and served version.

    The fields are the deployment's row in the store; ``status`` and ``version`` are
    properties that ask the live process (``recorded_status`` and ``deployed_version``
    are what the store says).
    """

    id: str
    name: str
    ref: str  #: what it follows: NAME@ALIAS or NAME/VERSION
    model: str
    deployed_version: int  #: the version resolved when it started
    url: str
    host: str
    port: int
    pid: int | None
    hostname: str  #: the machine whose process ``pid`` is
    runtime: str
    workers: int
    recorded_status: str  #: starting, running, stopped, failed or dead, as last stored
    started_at: float  #: epoch seconds
    stopped_at: float | None
    log_path: str | None
    token: str | None  #: the bearer token clients send (None: the server is open)
    timings: dict[str, float]  #: seconds per phase of the deploy that started it

    def __init__(self, row: Mapping[str, Any], token: str | None = None, *,
                 timings: dict[str, float] | None = None) -> None:
        self.id, self.name, self.ref, self.model = row["id"], row["name"], row["ref"], row["model"]
        self.deployed_version = int(row["version"])
        self.url, self.host, self.port = row["url"], row["host"], int(row["port"])
        self.pid, self.hostname = row["pid"], row["hostname"]
        self.runtime, self.workers = row["runtime"], int(row["workers"])
        self.recorded_status = row["status"]
        self.started_at, self.stopped_at = float(row["started_at"]), row["stopped_at"]
        self.log_path = row.get("log_path")
        self.token = token
        #: seconds per phase of the deploy that started it: start, load, ready, deploy (all)
        self.timings = timings or {}

    @property
    def status(self) -> str:
        """Return starting, running, stopped, failed, or dead (its process is gone)."""
        if (self.recorded_status in ACTIVE and self.hostname == HOSTNAME
                and not pid_alive(self.pid)):
            store = _store()
            row = store.get_deployment(self.id)  # stopped elsewhere (CLI, another kernel)?
            self.recorded_status, self.stopped_at = row["status"], row["stopped_at"]
            if self.recorded_status in ACTIVE:
                self.stopped_at = time.time()
                store.update_deployment(self.id, status="dead", stopped_at=self.stopped_at)
                self.recorded_status = "dead"
        return self.recorded_status

    @property
    def version(self) -> int:
        """Return the version served now (it changes when the followed alias moves)."""
        if self.status == "running":
            import httpx

            try:
                r = httpx.get(f"{self.url}/health", timeout=2.0)
                return int(r.json()["version"])
            except (httpx.HTTPError, KeyError, ValueError):
                pass
        return self.deployed_version

    def health(self, timeout: float = 2.0) -> dict[str, Any]:
        """Return ``{"ok", "latency_ms", "version", "error"}`` from a GET of the live ``/health``.

        ``ok`` is False (with ``error`` saying why) when the server is not running or does
        not answer within ``timeout`` seconds; ``latency_ms`` is that request's round trip.
        """
        import httpx

        if self.status != "running":
            return {"ok": False, "latency_ms": None, "version": None,
                    "error": f"deployment is {self.status}"}
        t0 = time.perf_counter()
        try:
            r = httpx.get(f"{self.url}/health", timeout=timeout)
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            return {"ok": False, "latency_ms": None, "version": None,
                    "error": f"{type(exc).__name__}: {exc}"}
        ms = (time.perf_counter() - t0) * 1000.0
        ok = r.status_code == 200 and body.get("status") == "ok"
        return {"ok": ok, "latency_ms": round(ms, 2), "version": body.get("version"),
                "error": None if ok else f"HTTP {r.status_code}"}

    def predict(self, data: Any, *, probabilities: bool = False) -> Any:
        """Return predictions for a DataFrame (or list of records) from the live service."""
        records = data.to_dict(orient="records") if hasattr(data, "to_dict") else data
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with http_client() as client:
            r = client.post(f"{self.url}/invocations", json={"dataframe_records": records},
                            params={"probabilities": "true"} if probabilities else None,
                            headers=headers)
        if r.status_code != 200:
            raise DeployError(f"{self.name}: HTTP {r.status_code}: {r.json().get('error')}")
        body = r.json()
        return body if probabilities else body["predictions"]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``) and record it."""
        stop_process(self.pid, self.hostname, timeout)
        self.stopped_at = time.time()
        _store().update_deployment(self.id, status="stopped", stopped_at=self.stopped_at)
        self.recorded_status = "stopped"

    def as_dict(self) -> dict[str, Any]:
        """Return the deployment as its store row (``version`` as deployed), live ``status``."""
        return {"id": self.id, "name": self.name, "ref": self.ref, "model": self.model,
                "version": self.deployed_version, "url": self.url, "host": self.host,
                "port": self.port, "pid": self.pid, "hostname": self.hostname,
                "runtime": self.runtime, "workers": self.workers, "status": self.status,
                "started_at": self.started_at, "stopped_at": self.stopped_at,
                "log_path": self.log_path}

    def __repr__(self) -> str:
        t = self.timings
        took = (f" ready in {t['deploy']:.2f}s (" + ", ".join(
            f"{k} {t[k]:.2f}s" for k in ("start", "load", "ready") if k in t) + ")"
            if "deploy" in t else "")
        return (f"<Deployment {self.name!r} {self.ref} v{self.deployed_version} {self.url} "
                f"{self.status}{took}>")


def stop_process(pid: int | None, hostname: str, timeout: float = 10.0) -> None:
    """Terminate a server's process group on this machine and wait for it to exit."""
    if not pid or hostname != HOSTNAME or not pid_alive(pid):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        if not pid_alive(pid):
            break
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout=5)


def server_env(token: str | None) -> dict[str, str]:
    """Return the environment of a server process: this one's store, and the token if any."""
    from nbmlops.config import resolve_settings

    settings = resolve_settings()
    env = {**os.environ, "NBMLOPS_STORE_URL": settings.store_url,
           "NBMLOPS_ARTIFACT_URL": settings.artifact_url, "NBMLOPS_HOME": str(settings.home)}
    env.pop("NBMLOPS_SERVE_TOKEN", None)
    if token:  # through the environment: argv is visible to every user in `ps`
        env["NBMLOPS_SERVE_TOKEN"] = token
    return env


def _serve_args(ref: str, host: str, port: int, workers: int, runtime: str,
                extra: list[str] | None) -> list[str]:
    return ["serve", ref, "--host", host, "--port", str(port), "--workers", str(workers),
            "--runtime", runtime, *(extra or [])]


def spawn_server(ref: str, *, host: str, port: int, workers: int, runtime: str,
                 token: str | None, log_path: Path, extra: list[str] | None = None,
                 ) -> subprocess.Popen[bytes]:
    """Start ``nbmlops serve`` in a new session, logging to ``log_path``; return the process."""
    cmd = [sys.executable, "-m", "nbmlops", *_serve_args(ref, host, port, workers, runtime, extra)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=server_env(token),
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _children[proc.pid] = proc
    return proc


def launch_server(ref: str, *, host: str, port: int, workers: int, runtime: str,
                  token: str | None, log_path: Path, t0: float | None = None) -> int:
    """Start a server for a deployment (forked from the warm host when it can); return its pid."""
    from nbmlops.serving.server import T0_ENV

    host_proc = _warm_host()
    if host_proc is not None:
        env = server_env(token)
        if t0 is not None:
            env[T0_ENV] = repr(t0)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        req = {"argv": _serve_args(ref, host, port, workers, runtime, None), "env": env,
               "log": str(log_path), "cwd": os.getcwd()}
        try:
            assert host_proc.stdin is not None and host_proc.stdout is not None
            host_proc.stdin.write(json.dumps(req).encode() + b"\n")
            host_proc.stdin.flush()
            return int(json.loads(host_proc.stdout.readline())["pid"])
        except (OSError, ValueError, KeyError):  # the host died: start a fresh process
            _stop_warm_host()
    return spawn_server(ref, host=host, port=port, workers=workers, runtime=runtime,
                        token=token, log_path=log_path).pid


def _warm_enabled() -> bool:
    return hasattr(os, "fork") and os.environ.get(WARM_ENV, "1") != "0"


def _start_warm_host(*, idle: bool) -> subprocess.Popen[bytes]:
    """Return this process's warm host, starting it (without waiting) if there is none."""
    global _warm, _warm_ready, _warm_registered
    if _warm is not None and _warm.poll() is None:
        return _warm
    _stop_warm_host()
    cmd = [sys.executable, "-m", "nbmlops.serving.warm"]
    _warm = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    if idle:  # set here only (the host never changes its own policy): no race with deploy
        set_policy(_warm.pid, idle=True)
    _warm_ready = False
    if not _warm_registered:
        atexit.register(_stop_warm_host)
        _warm_registered = True
    return _warm


def prestart_warm_host() -> bool:
    """Start the warm host in the background, at idle priority; return whether one runs.

    Called when a deploy becomes likely (a model registered in an interactive session,
    or ``%load_ext nbmlops`` with ``NBMLOPS_PREWARM=load``), so the first deploy does not
    pay the serving stack's imports. Returns at once; idempotent; does nothing when
    ``NBMLOPS_PREWARM=0`` or ``NBMLOPS_WARM_HOST=0``. The host exits with this process.
    """
    if not _warm_enabled() or os.environ.get(PREWARM_ENV, "1") == "0":
        return False
    with _warm_lock:
        _start_warm_host(idle=True)
    return True


def prewarm_on_register() -> None:
    """Prestart the warm host after a registration in a notebook session.

    ``%load_ext nbmlops`` hooks this to every registration
    (:func:`nbmlops.registry.versions.on_register`). Not in scripts (no IPython session)
    nor in pipeline steps (the runner sets
    ``NBMLOPS_PARENT_RUN_ID``): a step's kernel ends with the step, before any deploy.
    """
    if os.environ.get("NBMLOPS_PARENT_RUN_ID"):
        return
    ipython = sys.modules.get("IPython")
    if ipython is not None and ipython.get_ipython() is not None:
        prestart_warm_host()


def _warm_host() -> subprocess.Popen[bytes] | None:
    """Return this process's warm host, ready (started now if needed), or None if there is none."""
    global _warm_ready
    if not _warm_enabled():
        return None
    with _warm_lock:
        proc = _start_warm_host(idle=False)
        if _warm_ready:
            return proc
        set_policy(proc.pid, idle=False)  # started idle: now needed, it runs like the rest
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
        if not ready or proc.stdout.readline() != b"ready\n":
            _stop_warm_host()
            return None
        _warm_ready = True
        return proc


def _stop_warm_host() -> None:
    """Stop the warm host (servers it started keep running)."""
    global _warm, _warm_ready
    if _warm is not None:
        if not _warm_ready:  # still importing: it would read its closed stdin only after
            _warm.kill()
        _close(_warm)
        _warm, _warm_ready = None, False


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(proc: subprocess.Popen[bytes] | int, url: str, log_path: Path,
               timeout: float = READY_TIMEOUT) -> None:
    """Wait until the server answers ``/v2/health/ready``; raise DeployError if it dies.

    On failure nothing is left behind: the server's whole process group is killed.
    """
    import httpx

    pid = proc if isinstance(proc, int) else proc.pid
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                _kill_group(pid)
                code = _children[pid].returncode if pid in _children else None
                how = f"exited with code {code}" if code is not None else "stopped"
                raise DeployError(f"the server {how} before it was ready: {log_tail(log_path)}")
            try:
                if client.get(f"{url}/v2/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    stop_process(pid, HOSTNAME)
    _kill_group(pid)
    raise DeployError(f"the server was not ready after {timeout:.0f}s: {log_tail(log_path)}")


def _kill_group(pid: int) -> None:
    """Kill what is left of a failed server's process group (its ONNX converter, workers)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout=5)


def log_tail(path: Path, lines: int = 3) -> str:
    """Return the last meaningful lines of a server log, joined on one line."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    errors = [ln for ln in text if ln.startswith("Error:")]
    return " | ".join(errors[-1:] or text[-lines:]) or "(empty log)"


def url_for(host: str, port: int) -> str:
    """Return the base URL clients use for (host, port)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def deploy(ref: str, port: int | None = None, host: str = "127.0.0.1", workers: int = 1,
           runtime: str = "auto", *, token: str | None = None, name: str | None = None,
           timeout: float = READY_TIMEOUT) -> Deployment:
    """Start a background server for ``ref``, wait until it is ready, and return it.

    The deployment (reference, resolved version, URL, pid, start time, status) is
    recorded in the store; ``nbmlops deployments list`` and ``%deploy --list`` show it.

    Parameters
    ----------
    ref : str
        ``name@alias`` (the server follows the alias) or ``name/3``.
    port : int, optional
        A free port is picked by default.
    host : str
        The address to bind; anything but loopback needs a token.
    workers : int
        Worker processes.
    runtime : str
        ``"auto"``, ``"onnx"`` or ``"sklearn"``.
    token : str, optional
        The bearer token clients must send.
    name : str, optional
        The deployment name; ``<model>-<port>`` by default.
    timeout : float
        Seconds to wait for the server to be ready.

    Returns
    -------
    Deployment
        The running deployment: ``url``, ``predict()``, ``health()``, ``stop()``.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    DeployError
        The port is taken, a non-loopback host has no token, or the server did not
        become ready (it is stopped and recorded as failed).
    InvalidNameError
        ``name`` breaks the naming rules.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.registry.versions import get_model_version

    t0 = time.time()
    mv = get_model_version(ref)  # a missing model or alias fails here, before any process
    token = resolve_token(host, token)
    port = port or free_port(host)
    bind_socket(host, port).close()  # a taken port fails here, with a clear message
    name = validate_name(name or f"{mv.name}-{port}", "deployment")
    dep_id = uuid.uuid4().hex
    log_path = resolve_settings().home / "deployments" / f"{name}-{dep_id[:8]}.log"
    pid = launch_server(ref, host=host, port=port, workers=workers, runtime=runtime,
                        token=token, log_path=log_path, t0=t0)
    url = url_for(host, port)
    row = dict(id=dep_id, name=name, ref=str(ref), model=mv.name, version=mv.version, url=url,
               host=host, port=port, pid=pid, hostname=HOSTNAME, runtime=runtime,
               workers=workers, status="starting", started_at=time.time(), stopped_at=None,
               log_path=str(log_path))
    store = _store()
    store.add_deployment(row)
    try:
        wait_ready(pid, url, log_path, timeout)
    except DeployError:
        store.update_deployment(dep_id, status="failed", stopped_at=time.time())
        raise
    ready = time.time() - t0
    store.update_deployment(dep_id, status="running")
    return Deployment({**row, "status": "running"}, token,
                      timings={**_startup(url, token), "deploy": round(ready, 3)})


def _startup(url: str, token: str | None) -> dict[str, float]:
    """Return the start-up phases a server reports in ``/version`` (empty if it does not)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        found = httpx.get(f"{url}/version", headers=headers, timeout=5).json().get("startup")
    except (httpx.HTTPError, ValueError, AttributeError):
        return {}
    return {k: float(v) for k, v in found.items()} if isinstance(found, dict) else {}


def list_deployments(*, include_stopped: bool = False) -> list[Deployment]:
    """Return deployments, newest first (dead ones are marked so on the way)."""
    deps = [Deployment(r) for r in _store().list_deployments()]
    for d in deps:
        d.status  # noqa: B018 - refreshes dead processes into the store
    return [d for d in deps if include_stopped or d.status in ACTIVE]


def get_deployment(name_or_port: str | int) -> Deployment:
    """Return the active deployment with this name, port or model name (or id)."""
    key = str(name_or_port)
    active = list_deployments()
    for attr in ("name", "port", "id", "model"):
        hits = [d for d in active if str(getattr(d, attr)) == key]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DeployError(f"{key!r} matches {len(hits)} deployments "
                              f"({', '.join(d.name for d in hits)}); give a name or port")
    known = ", ".join(f"{d.name} (port {d.port})" for d in active) or "none are running"
    raise DeployError(f"no running deployment {key!r}; running: {known}")


def stop_deployment(name_or_port: str | int) -> Deployment:
    """Stop the deployment with this name or port; return it."""
    dep = get_deployment(name_or_port)
    dep.stop()
    return dep


def rollback(name: str, alias: str = "production", reason: str | None = None) -> Any:
    """Move ``model@alias`` back to its previous version; servers following it hot-swap.

    ``name`` is a model name or a deployment name/port. Returns the new ModelVersion.
    """
    from nbmlops.registry.aliases import previous_version, set_alias

    model = name
    try:
        model = get_deployment(name).model
    except DeployError:
        pass
    before = previous_version(model, alias)
    return set_alias(model, alias, before, reason=reason or f"rollback of {model}@{alias}")
