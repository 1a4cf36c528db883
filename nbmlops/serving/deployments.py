"""Background deployments: start ``nbmlops serve`` as a process, record it, list and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from nbmlops._proc import pid_alive as _pid_alive
from nbmlops.errors import DeployError
from nbmlops.names import validate_name
from nbmlops.serving.server import bind_socket, free_port, resolve_token

HOSTNAME = socket.gethostname()
ACTIVE = ("starting", "running")
READY_TIMEOUT = 120.0

#: Popen objects of servers this process started, so stopped ones get reaped
_children: dict[int, subprocess.Popen[bytes]] = {}


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
    """A model server started by ``deploy()``: its URL, live status and served version."""

    def __init__(self, row: dict[str, Any], token: str | None = None) -> None:
        self._row = row
        self._token = token

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_row"][key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def status(self) -> str:
        """Return starting, running, stopped, failed, or dead (its process is gone)."""
        st = self._row["status"]
        if st in ACTIVE and self._row["hostname"] == HOSTNAME and not pid_alive(self.pid):
            store = _store()
            self._row = store.get_deployment(self.id)  # stopped elsewhere (CLI, another kernel)?
            if self._row["status"] in ACTIVE:
                store.update_deployment(self.id, status="dead", stopped_at=time.time())
                self._row["status"] = "dead"
            st = self._row["status"]
        return str(st)

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
        return int(self._row["version"])

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
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
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
        stop_process(self.pid, self._row["hostname"], timeout)
        _store().update_deployment(self.id, status="stopped", stopped_at=time.time())
        self._row["status"] = "stopped"

    def as_dict(self) -> dict[str, Any]:
        """Return the deployment's fields with the live status."""
        return {**self._row, "status": self.status}

    def __repr__(self) -> str:
        return (f"<Deployment {self.name!r} {self.ref} v{self._row['version']} {self.url} "
                f"{self.status}>")


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


def spawn_server(ref: str, *, host: str, port: int, workers: int, runtime: str,
                 token: str | None, log_path: Path, extra: list[str] | None = None,
                 ) -> subprocess.Popen[bytes]:
    """Start ``nbmlops serve`` in a new session, logging to ``log_path``; return the process."""
    from nbmlops.config import resolve_settings

    settings = resolve_settings()
    env = {**os.environ, "NBMLOPS_STORE_URL": settings.store_url,
           "NBMLOPS_ARTIFACT_URL": settings.artifact_url, "NBMLOPS_HOME": str(settings.home)}
    env.pop("NBMLOPS_SERVE_TOKEN", None)
    if token:  # through the environment: argv is visible to every user in `ps`
        env["NBMLOPS_SERVE_TOKEN"] = token
    cmd = [sys.executable, "-m", "nbmlops", "serve", ref, "--host", host, "--port", str(port),
           "--workers", str(workers), "--runtime", runtime, *(extra or [])]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _children[proc.pid] = proc
    return proc


def wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path,
               timeout: float = READY_TIMEOUT) -> None:
    """Wait until the server answers ``/v2/health/ready``; raise DeployError if it dies."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DeployError(f"the server exited with code {proc.returncode} before it was "
                                  f"ready: {log_tail(log_path)}")
            try:
                if client.get(f"{url}/v2/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    stop_process(proc.pid, HOSTNAME)
    raise DeployError(f"the server was not ready after {timeout:.0f}s: {log_tail(log_path)}")


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
    """
    from nbmlops.config import resolve_settings
    from nbmlops.registry.versions import get_model_version

    mv = get_model_version(ref)  # a missing model or alias fails here, before any process
    token = resolve_token(host, token)
    port = port or free_port(host)
    bind_socket(host, port).close()  # a taken port fails here, with a clear message
    name = validate_name(name or f"{mv.name}-{port}", "deployment")
    dep_id = uuid.uuid4().hex
    log_path = resolve_settings().home / "deployments" / f"{name}-{dep_id[:8]}.log"
    proc = spawn_server(ref, host=host, port=port, workers=workers, runtime=runtime,
                        token=token, log_path=log_path)
    url = url_for(host, port)
    row = dict(id=dep_id, name=name, ref=str(ref), model=mv.name, version=mv.version, url=url,
               host=host, port=port, pid=proc.pid, hostname=HOSTNAME, runtime=runtime,
               workers=workers, status="starting", started_at=time.time(), stopped_at=None,
               log_path=str(log_path))
    store = _store()
    store.add_deployment(row)
    try:
        wait_ready(proc, url, log_path, timeout)
    except DeployError:
        store.update_deployment(dep_id, status="failed", stopped_at=time.time())
        raise
    store.update_deployment(dep_id, status="running")
    return Deployment({**row, "status": "running"}, token)


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
