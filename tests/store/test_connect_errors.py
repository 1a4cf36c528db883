"""A database server that cannot be reached or refuses us: one clear line, no hang.

Each case goes through ``nbmlops.runs()`` with ``NBMLOPS_STORE_URL`` set, as a user
would, and checks the message names the host (never the password) and what to check.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import nbmlops
from nbmlops.errors import StoreUnavailableError
from nbmlops.store import reset, sqlbase
from tests.conftest import require


@pytest.fixture(autouse=True)
def _psycopg() -> None:
    require(importlib.util.find_spec("psycopg") is not None,
            "psycopg is not installed (pip install -e '.[dev]')")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server, a
    firewall that swallows packets): the case where libpq would wait forever."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def _refused(monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    monkeypatch.setenv("NBMLOPS_STORE_URL", url)
    reset()
    with pytest.raises(StoreUnavailableError) as info:
        nbmlops.runs()
    reset()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "hunter2" not in message and "***" in message
    assert "check the host, port, user and password of NBMLOPS_STORE_URL" in message
    return message


def test_a_silent_server_times_out_naming_the_host(silent_server: int, nbmlops_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlbase, "CONNECT_TIMEOUT", 2)  # libpq's smallest timeout
    message = _refused(monkeypatch,
                       f"postgresql+psycopg://u:hunter2@127.0.0.1:{silent_server}/db")
    # without the default connect_timeout libpq waits for the silent server forever
    assert f"127.0.0.1:{silent_server}/db" in message and "timeout expired" in message
    assert not (nbmlops_home / "nbmlops.db").exists()


def test_a_closed_port_is_refused_naming_the_host(nbmlops_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # bound then closed: nothing listens there
    message = _refused(monkeypatch, f"postgresql+psycopg://u:hunter2@127.0.0.1:{port}/db")
    assert f'"127.0.0.1", port {port} failed' in message


def test_wrong_credentials_are_one_line(nbmlops_home: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    url = os.environ.get("NBMLOPS_TEST_PG_URL", "")
    require(bool(url), "NBMLOPS_TEST_PG_URL is not set (run: eval \"$(.ci/postgres.sh)\")")
    parts = urlsplit(url)
    user = parts.username or "postgres"
    bad = parts._replace(netloc=f"{user}:hunter2@{parts.hostname}:{parts.port or 5432}")
    message = _refused(monkeypatch, urlunsplit(bad))
    assert f"password authentication failed for user \"{user}\"" in message
