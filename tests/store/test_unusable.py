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
from nbmlops.store import open_store, reset
from tests.conftest import require


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
    """A store with one run whose folders are 0555 and files 0444: read-only for its owner.

    Root ignores permission bits, so as root the check runs the code through ``setpriv``
    with every capability dropped: still uid 0 (the owner of the checkout, the venv and the
    store), so it imports nbmlops from wherever the checkout lives (a 0700 home included),
    but permission bits now apply to it.
    """
    if os.geteuid() == 0:
        require(shutil.which("setpriv") is not None,
                "needs setpriv to drop root's capabilities so permission bits apply")
    base = Path(tempfile.mkdtemp(prefix="nbmlops-ro-"))
    home = base / ".nbmlops"
    with nbmlops.start_run("existing", params={"a": 1}) as run:
        nbmlops.log_metric("m", 1.0)
        nbmlops.log_artifact(b"hello", "notes.txt")
    # a run left RUNNING by a process that is gone: reading must not try to reap it
    meta, _ = open_store()
    crashed = meta.create_run("default", "crashed")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    meta.update_run(crashed.id, pid=gone.pid)
    reset()  # closes the store, so the copy holds no -wal/-shm files
    shutil.copytree(Path(os.environ["NBMLOPS_HOME"]), home)
    (base / "run_id").write_text(run.id)
    for p in [*home.rglob("*"), home]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    yield home
    for p in [home, *home.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    shutil.rmtree(base)


def _as_reader(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` as the store's owner, for whom permission bits hold (root: no capabilities)."""
    env = {**os.environ, "NBMLOPS_HOME": str(home), "HOME": str(home.parent)}
    drop = (["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"]
            if os.geteuid() == 0 else [])
    return subprocess.run([*drop, *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=home.parent)


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
    proc = _as_reader(readonly_home, sys.executable, "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("REFUSED store at "), proc.stdout + proc.stderr
    assert "writable" in proc.stdout
    # the write really was impossible, not merely refused by nbmlops
    probe = _as_reader(readonly_home, sys.executable, "-c",
                       f"open({str(readonly_home / 'probe')!r}, 'w')")
    assert probe.returncode != 0 and "PermissionError" in probe.stderr
    assert _snapshot(readonly_home) == before


def test_readonly_store_still_lists_runs(readonly_home: Path) -> None:
    before = _snapshot(readonly_home)
    run_id = (readonly_home.parent / "run_id").read_text()
    proc = _as_reader(readonly_home, sys.executable, "-m", "nbmlops", "runs", "list")
    assert proc.returncode == 0, proc.stderr
    assert run_id in proc.stdout and "existing" in proc.stdout
    assert "crashed" in proc.stdout and "RUNNING" in proc.stdout  # shown as stored
    shown = _as_reader(readonly_home, sys.executable, "-m", "nbmlops", "runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "notes.txt" in shown.stdout
    read = _as_reader(readonly_home, sys.executable, "-c",
                      f"import nbmlops; print(nbmlops.get_run({run_id!r})"
                      ".load_artifact('notes.txt'))")
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "b'hello'"
    assert _snapshot(readonly_home) == before
    assert sorted(p.name for p in readonly_home.iterdir()) == ["artifacts", "nbmlops.db"]


def test_empty_database_file_refused(nbmlops_home: Path) -> None:
    """A 0-byte nbmlops.db (truncated) is refused, not silently re-initialised."""
    nbmlops_home.mkdir(parents=True)
    (nbmlops_home / "nbmlops.db").touch()
    (nbmlops_home / "artifacts").mkdir()
    before = _snapshot(nbmlops_home)
    with pytest.raises(StoreUnavailableError, match="corrupted.*empty.*backup"):
        nbmlops.runs()
    proc = subprocess.run([sys.executable, "-m", "nbmlops", "runs", "list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "0 bytes" in proc.stderr
    assert _snapshot(nbmlops_home) == before
    assert (nbmlops_home / "nbmlops.db").stat().st_size == 0


def test_readonly_store_copied_with_its_wal_files(nbmlops_home: Path) -> None:
    """A read-only copy taken while a writer had the store open (-wal/-shm present) reads too."""
    if os.geteuid() == 0:
        require(shutil.which("setpriv") is not None,
                "needs setpriv to drop root's capabilities so permission bits apply")
    with nbmlops.start_run("live") as run:
        nbmlops.log_metric("m", 1.0)
    base = Path(tempfile.mkdtemp(prefix="nbmlops-ro-wal-"))
    home = base / ".nbmlops"
    try:
        shutil.copytree(nbmlops_home, home)  # the writer's connection is still open
        assert (home / "nbmlops.db-wal").exists() and (home / "nbmlops.db-shm").exists()
        for p in [*home.rglob("*"), home]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        before = _snapshot(home)
        proc = _as_reader(home, sys.executable, "-m", "nbmlops", "runs", "list")
        assert proc.returncode == 0, proc.stderr
        assert run.id in proc.stdout and "live" in proc.stdout
        assert _snapshot(home) == before
    finally:
        for p in [home, *home.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base)
