"""Secrets never leave the kernel; the environment records what was actually imported."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from nbmlops.tracking.capture import capture_environment, git_state
from nbmlops.tracking.secrets import REDACTED

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "a1B2" * 9


def test_secret_named_params_and_tags_redacted() -> None:
    with nbmlops.start_run(params={"api_token": "s3cr3t", "db_password": "hunter2",
                                   "lr": 0.1}) as run:
        nbmlops.log_param("AWS_SECRET_ACCESS_KEY", "abc")
        nbmlops.set_tags({"auth_header": "Bearer x", "owner": "me"})
    assert run.params == {"AWS_SECRET_ACCESS_KEY": REDACTED, "api_token": REDACTED,
                          "db_password": REDACTED, "lr": 0.1}
    assert run.tags == {"auth_header": REDACTED, "owner": "me"}


@pytest.mark.parametrize("value", [AWS_KEY, f"creds={AWS_KEY}", GITHUB_TOKEN,
                                   "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."])
def test_secret_looking_values_redacted(value: str) -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_param("harmless_name", value)
        nbmlops.set_tag("note", value)
    assert run.params == {"harmless_name": REDACTED} and run.tags == {"note": REDACTED}


def test_secret_not_stored_anywhere_in_the_database(nbmlops_home: Path) -> None:
    with nbmlops.start_run(params={"token": "plain-secret-value", "x": AWS_KEY}):
        pass
    from nbmlops.store import reset

    reset()
    raw = b"".join(p.read_bytes() for p in nbmlops_home.glob("nbmlops.db*"))
    assert b"plain-secret-value" not in raw and AWS_KEY.encode() not in raw


PG_URL = "postgresql+psycopg://nbmlops:pg-pass-123@db.internal:5432/nbmlops"


def test_nested_secrets_and_url_passwords_redacted(nbmlops_home: Path) -> None:
    """Redaction reaches inside dicts and lists, and into URLs with credentials."""
    config = {"db": {"password": "hunter2", "host": "db.internal"},
              "items": [AWS_KEY, "plain"], "url": PG_URL, "deep": [[{"api_token": "t0k"}]]}
    with nbmlops.start_run(params={"config": config, "dsn": PG_URL,
                                   "pair": (GITHUB_TOKEN, 3)}) as run:
        nbmlops.set_tags({"where": f"exported to {PG_URL} nightly", "list": [AWS_KEY]})
    masked = "postgresql+psycopg://nbmlops:***@db.internal:5432/nbmlops"
    assert run.params == {
        "config": {"db": {"password": REDACTED, "host": "db.internal"},
                   "items": [REDACTED, "plain"], "url": masked,
                   "deep": [[{"api_token": REDACTED}]]},
        "dsn": masked, "pair": [REDACTED, 3]}
    assert run.tags == {"where": f"exported to {masked} nightly",
                        "list": f'["{REDACTED}"]'}
    from nbmlops.store import reset

    reset()
    raw = b"".join(p.read_bytes() for p in nbmlops_home.glob("nbmlops.db*"))
    for secret in (b"hunter2", AWS_KEY.encode(), b"t0k", b"pg-pass-123", GITHUB_TOKEN.encode()):
        assert secret not in raw


def test_too_deeply_nested_param_refused() -> None:
    from nbmlops.errors import ValidationError

    value: object = "leaf"
    for _ in range(1000):
        value = [value]
    with nbmlops.start_run() as run:
        with pytest.raises(ValidationError, match="nested more than 100 levels"):
            nbmlops.log_param("deep", value)
    assert run.params == {}


def test_url_passwords_in_environment_variables_redacted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBMLOPS_TEST_PG_URL", PG_URL)
    with nbmlops.start_run() as run:
        pass
    assert run.environment["variables"]["NBMLOPS_TEST_PG_URL"] == \
        "postgresql+psycopg://nbmlops:***@db.internal:5432/nbmlops"


def test_environment_variables_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBMLOPS_API_TOKEN", "tok-123")
    monkeypatch.setenv("NBMLOPS_SETTING", "visible")
    monkeypatch.setenv("PYTHON_CONFIG", AWS_KEY)
    with nbmlops.start_run() as run:
        pass
    variables = run.environment["variables"]
    assert variables["NBMLOPS_API_TOKEN"] == REDACTED
    assert variables["NBMLOPS_SETTING"] == "visible"
    assert variables["PYTHON_CONFIG"] == REDACTED


def test_environment_records_imported_versions() -> None:
    import sqlalchemy

    with nbmlops.start_run() as run:
        pass
    env = run.environment
    assert env["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["imported"]["sqlalchemy"] == sqlalchemy.__version__
    assert env["packages"]["SQLAlchemy"] == sqlalchemy.__version__
    assert "sqlalchemy" not in env["upgraded"]


def _import_fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 dist_version: str) -> tuple[Path, Any]:
    """Install nbm_fakepkg (``__version__`` 1.0.0) with metadata at dist_version; import it.

    The module leaves sys.modules again when the test ends (monkeypatch undoes it).
    """
    site = tmp_path / "site"
    (site / "nbm_fakepkg").mkdir(parents=True)
    (site / "nbm_fakepkg" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    _write_dist(site, dist_version)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "nbm_fakepkg", raising=False)
    importlib.invalidate_caches()
    module = importlib.import_module("nbm_fakepkg")
    monkeypatch.setitem(sys.modules, "nbm_fakepkg", module)
    return site, module


def test_static_version_mismatch_is_not_an_upgrade(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A module whose __version__ never matched its metadata (certifi's .post1) is not flagged.

    Only metadata written after this process started counts as an upgrade.
    """
    import os

    from nbmlops.tracking.capture import process_start_time

    site, _ = _import_fake(tmp_path, monkeypatch, "1.0.0.post1")
    old = process_start_time() - 3600
    os.utime(site / "nbm_fakepkg-1.0.0.post1.dist-info", (old, old))
    importlib.invalidate_caches()

    _, env = capture_environment()
    assert env["packages"]["nbm-fakepkg"] == "1.0.0.post1"
    assert env["imported"]["nbm_fakepkg"] == "1.0.0"
    assert "nbm_fakepkg" not in env["upgraded"]


def test_identical_environments_stored_once() -> None:
    from sqlalchemy import func, select

    from nbmlops.store import open_store
    from nbmlops.store import schema as s

    with nbmlops.start_run() as a:
        pass
    with nbmlops.start_run() as b:
        pass
    assert a.record.environment_hash == b.record.environment_hash
    store, _ = open_store()
    with store._read() as conn:
        assert conn.execute(select(func.count()).select_from(s.environments)).scalar() == 1


def _write_dist(site: Path, version: str) -> None:
    info = site / f"nbm_fakepkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: nbm-fakepkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("nbm_fakepkg\n")
    (info / "RECORD").write_text("nbm_fakepkg/__init__.py,,\n")


def test_module_upgraded_on_disk_after_import(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    site, nbm_fakepkg = _import_fake(tmp_path, monkeypatch, "1.0.0")
    _, env = capture_environment()
    assert env["imported"]["nbm_fakepkg"] == "1.0.0"
    assert env["packages"]["nbm-fakepkg"] == "1.0.0"
    assert "nbm_fakepkg" not in env["upgraded"]

    # "pip install -U" in a terminal while the kernel keeps the old module loaded
    shutil.rmtree(site / "nbm_fakepkg-1.0.0.dist-info")
    (site / "nbm_fakepkg" / "__init__.py").write_text('__version__ = "2.0.0"\n')
    _write_dist(site, "2.0.0")
    assert nbm_fakepkg.__version__ == "1.0.0"

    with nbmlops.start_run() as run:
        pass
    upgraded = run.environment["upgraded"]
    assert upgraded["nbm_fakepkg"] == {"imported": "1.0.0", "on_disk": "2.0.0",
                                       "distribution": "nbm-fakepkg"}


def test_git_state(tmp_path: Path) -> None:
    import subprocess

    assert git_state(tmp_path) == (None, None)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f.txt").write_text("1")
    subprocess.run([*git, "add", "f.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_state(tmp_path) == (head, False)
    (tmp_path / "f.txt").write_text("2")
    assert git_state(tmp_path) == (head, True)
