"""Capture where a run came from: environment, git state and notebook path."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from nbmlops.tracking.secrets import redact

_ENV_PREFIXES = (
    "NBMLOPS_", "PYTHON", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "CONDA_", "VIRTUAL_ENV",
)
_dist_lock = threading.Lock()
_dist_cache: tuple[tuple[float, ...], dict[str, str], dict[str, list[str]]] | None = None


def _site_stamp() -> tuple[float, ...]:
    stamps = []
    for entry in sys.path:
        try:
            stamps.append(os.stat(entry or ".").st_mtime)
        except OSError:
            stamps.append(0.0)
    return tuple(stamps)


def installed_packages() -> tuple[dict[str, str], dict[str, list[str]]]:
    """Return ({distribution: version}, {top-level module: [distributions]}) from pip metadata.

    Cached per process and re-read when a ``sys.path`` folder changes (an install).
    """
    global _dist_cache
    from importlib import metadata

    with _dist_lock:  # a warm-up thread may be reading them already: wait, don't redo it
        stamp = _site_stamp()
        if _dist_cache is None or _dist_cache[0] != stamp:
            packages = {}
            for dist in metadata.distributions():
                name = dist.metadata["Name"]
                if name:
                    packages[name] = dist.version
            _dist_cache = (stamp, dict(sorted(packages.items())),
                           dict(metadata.packages_distributions()))
        cached = _dist_cache
        return cached[1], cached[2]


def warm_up() -> None:
    """Read the installed packages in a background thread, so the first run does not wait.

    Scanning every distribution's metadata takes 0.1-1 s; ``%load_ext nbmlops`` and the
    pipeline runner call this so that cost is paid while the user is still typing.
    """
    if _dist_cache is None:
        threading.Thread(target=installed_packages, name="nbmlops-warm-up", daemon=True).start()


def imported_modules() -> dict[str, str]:
    """Return {top-level module: __version__} for modules imported in this process."""
    out = {}
    for name, mod in list(sys.modules.items()):
        if "." in name or name.startswith("_") or mod is None:
            continue
        version = getattr(mod, "__version__", None)
        if isinstance(version, str):
            out[name] = version
    return dict(sorted(out.items()))


def _same_version(a: str, b: str) -> bool:
    try:
        from packaging.version import Version

        return Version(a) == Version(b)
    except Exception:
        return a == b


def upgraded_modules(imported: dict[str, str]) -> dict[str, dict[str, str]]:
    """Return modules whose installed version changed on disk after this process started.

    A module counts when its ``__version__`` differs from its distribution's version on
    disk *and* that distribution's metadata was written after the process started: a
    package whose ``__version__`` never matched its metadata (certifi's ``.post1``
    releases, say) is not an upgrade.
    """
    packages, owners = installed_packages()
    started = process_start_time()
    out = {}
    for module, version in imported.items():
        for dist in owners.get(module, []):
            on_disk = packages.get(dist)
            if not on_disk or _same_version(on_disk, version) or not _looks_versioned(version):
                continue
            written = _metadata_mtime(dist)  # None: cannot tell, so do not cry wolf
            if written is not None and written >= started:
                out[module] = {"imported": version, "on_disk": on_disk, "distribution": dist}
    return out


def _metadata_mtime(dist: str) -> float | None:
    from importlib import metadata

    try:
        path = getattr(metadata.distribution(dist), "_path", None)
        return os.stat(path).st_mtime if path is not None else None
    except (metadata.PackageNotFoundError, OSError):
        return None


_START: float | None = None


def process_start_time() -> float:
    """Return when this process started (epoch seconds; Linux /proc, else first call)."""
    global _START
    if _START is None:
        import time

        try:
            with open("/proc/self/stat") as f:
                ticks = int(f.read().rsplit(")", 1)[1].split()[19])
            with open("/proc/stat") as f:
                boot = next(float(line.split()[1]) for line in f if line.startswith("btime"))
            _START = boot + ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, StopIteration, IndexError):
            _START = time.time()
    return _START


def _looks_versioned(version: str) -> bool:
    return bool(version) and version[0].isdigit()


def environment_variables() -> dict[str, str]:
    """Return the environment variables worth recording, with secrets redacted."""
    return {k: redact(k, v) for k, v in sorted(os.environ.items()) if k.startswith(_ENV_PREFIXES)}


def capture_environment() -> tuple[str, dict[str, Any]]:
    """Return (hash, environment) for this process; identical environments share a hash."""
    packages, _ = installed_packages()
    imported = imported_modules()
    env = {
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "imported": imported,
        "upgraded": upgraded_modules(imported),
        "variables": environment_variables(),
    }
    digest = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
    return digest, env


def git_state(folder: str | Path | None = None) -> tuple[str | None, bool | None]:
    """Return (commit, dirty) of the git work tree holding ``folder``, or (None, None).

    One ``git status --porcelain=v2 --branch`` call gives both (the HEAD commit is its
    ``# branch.oid`` header; any other line is a modified tracked file).
    """
    cwd = str(folder or Path.cwd())
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if proc.returncode != 0:
        return None, None
    commit, dirty = None, False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif not line.startswith("#"):
            dirty = True
    return commit, dirty if commit else None


def notebook_path(user_ns: dict[str, Any] | None = None) -> str | None:
    """Return the path of the notebook this kernel runs, where Jupyter or nbmlops says it."""
    candidates = [
        os.environ.get("NBMLOPS_NOTEBOOK_PATH"),
        (user_ns or {}).get("__session__"),
        (user_ns or {}).get("__vsc_ipynb_file__"),
        os.environ.get("JPY_SESSION_NAME"),
    ]
    for cand in candidates:
        if isinstance(cand, str) and cand.endswith(".ipynb"):
            path = Path(cand)
            if not path.is_absolute():
                path = Path.cwd() / path
            return str(path)
    return None
