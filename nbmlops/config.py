"""Settings resolution: arguments, then ``NBMLOPS_*`` variables, then the found ``.nbmlops/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from nbmlops.errors import ConfigError

HOME_DIRNAME = ".nbmlops"


@dataclass(frozen=True)
class Settings:
    """Where the store lives and how tracking behaves."""

    home: Path
    store_url: str
    artifact_url: str
    flush_interval: float = 1.0
    heartbeat_timeout: float = 30.0

    @property
    def is_default_sqlite(self) -> bool:
        """Return whether the metadata store is the embedded SQLite file in ``home``."""
        return self.store_url == sqlite_url(self.home / "nbmlops.db")


#: settings that resolve_settings() returns in this thread or task (see use_settings)
_scoped: ContextVar[Settings | None] = ContextVar("nbmlops_settings", default=None)


@contextmanager
def use_settings(settings: Settings) -> Iterator[Settings]:
    """Make argument-less ``resolve_settings()`` return ``settings`` in this thread/task only.

    A server serving one store from its own root folder (the Jupyter server extension)
    calls the core API inside this block instead of changing ``NBMLOPS_*`` for the process.
    """
    token = _scoped.set(settings)
    try:
        yield settings
    finally:
        _scoped.reset(token)


def store_missing(settings: Settings) -> bool:
    """Return whether ``settings`` name the default SQLite store and its file does not exist yet."""
    return settings.is_default_sqlite and not (settings.home / "nbmlops.db").exists()


#: ``scheme://user:password@`` anywhere in a text (the password runs to the last ``@``
#: before a ``/``, ``?``, ``#`` or space)
_URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*:)(?P<password>[^\s/?#]+)(?=@)"
)


def redact_urls(text: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:password@host`` as ``***``."""
    return _URL_CREDENTIALS.sub(r"\g<head>***", text)


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def find_home(start: Path | None = None) -> Path:
    """Return the ``.nbmlops`` folder found walking up from ``start`` (or where to create it)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / HOME_DIRNAME
        if candidate.is_dir():
            return candidate
    return start / HOME_DIRNAME


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to seconds, e.g. 1.0") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds")
    return value


def resolve_settings(
    *,
    home: str | Path | None = None,
    store_url: str | None = None,
    artifact_url: str | None = None,
) -> Settings:
    """Return the settings: explicit arguments win over ``NBMLOPS_*`` variables over discovery.

    Inside :func:`use_settings`, a call without arguments returns the scoped settings.
    """
    scoped = _scoped.get()
    if scoped is not None and home is None and store_url is None and artifact_url is None:
        return scoped
    home_raw = home or os.environ.get("NBMLOPS_HOME")
    home_path = Path(home_raw).expanduser().resolve() if home_raw else find_home()
    url = store_url or os.environ.get("NBMLOPS_STORE_URL") or sqlite_url(home_path / "nbmlops.db")
    art = artifact_url or os.environ.get("NBMLOPS_ARTIFACT_URL") or str(home_path / "artifacts")
    return Settings(
        home=home_path,
        store_url=url,
        artifact_url=art,
        flush_interval=_float_env("NBMLOPS_FLUSH_INTERVAL", 1.0),
        heartbeat_timeout=_float_env("NBMLOPS_HEARTBEAT_TIMEOUT", 30.0),
    )
