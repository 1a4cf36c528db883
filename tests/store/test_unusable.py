"""A corrupted or read-only store gives one clear StoreUnavailableError and stays unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbmlops
from nbmlops.errors import StoreUnavailableError
from nbmlops.store import reset
from tests.conftest import require

NOBODY = 65534


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_corrupted_database_file(nbmlops_home: Path) -> None:
    nbmlops_home.mkdir(parents=True)
    db = nbmlops_home / "nbmlops.db"
    db.write_bytes(b"this is not a database, it is garbage " * 200)
    before = _snapshot(nbmlops_home)
    with pytest.raises(StoreUnavailableError, match="corrupted.*backup") as info:
        nbmlops.start_run("r")
    assert str(db) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreUnavailableError):
        nbmlops.runs()
    assert _snapshot(nbmlops_home) == before


def test_corrupted_database_cli(nbmlops_home: Path) -> None:
    nbmlops_home.mkdir(parents=True)
    (nbmlops_home / "nbmlops.db").write_bytes(os.urandom(8192))
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: store at ")
    assert "corrupted" in lines[0] and "Traceback" not in proc.stderr


@pytest.fixture
def readonly_home() -> Iterator[Path]:
    """A store with one run, owned by root with mode 0755: read-only for user nobody.

    Root ignores permission bits, so the check runs the code as ``nobody`` through
    ``setpriv``; pytest's own tmp folders are 0700 (unreachable for nobody), hence a
    world-traversable temp folder of our own.
    """
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None,
            "needs root and setpriv to run a process as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="nbmlops-ro-"))
    os.chmod(base, 0o755)
    home = base / ".nbmlops"
    with nbmlops.start_run("existing", params={"a": 1}) as run:
        nbmlops.log_metric("m", 1.0)
    shutil.copytree(Path(os.environ["NBMLOPS_HOME"]), home)
    reset()
    for p in [home, *home.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    (base / "run_id").write_text(run.id)
    yield home
    shutil.rmtree(base)


def _as_nobody(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBMLOPS_HOME": str(home), "HOME": str(home.parent)}
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=home.parent,
    )


def test_readonly_store_refuses_writes(readonly_home: Path) -> None:
    before = _snapshot(readonly_home)
    script = (
        "import nbmlops\n"
        "from nbmlops.errors import StoreUnavailableError\n"
        "try:\n"
        "    nbmlops.start_run('new')\n"
        "except StoreUnavailableError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    proc = _as_nobody(readonly_home, sys.executable, "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("REFUSED store at "), proc.stdout + proc.stderr
    assert "writable" in proc.stdout
    # the write really was impossible, not merely refused by nbmlops
    probe = _as_nobody(readonly_home, sys.executable, "-c",
                       f"open({str(readonly_home / 'probe')!r}, 'w')")
    assert probe.returncode != 0 and "PermissionError" in probe.stderr
    assert _snapshot(readonly_home) == before


def test_readonly_store_still_lists_runs(readonly_home: Path) -> None:
    before = _snapshot(readonly_home)
    run_id = (readonly_home.parent / "run_id").read_text()
    proc = _as_nobody(readonly_home, sys.executable, "-m", "nbmlops", "runs", "list")
    assert proc.returncode == 0, proc.stderr
    assert run_id in proc.stdout and "existing" in proc.stdout
    assert _snapshot(readonly_home) == before
