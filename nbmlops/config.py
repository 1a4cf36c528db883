"""Settings resolution: arguments, then ``NBMLOPS_*`` variables, then the found ``.nbmlops/``."""

from __future__ import annotations

import os
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
    """Return the settings: explicit arguments win over ``NBMLOPS_*`` variables over discovery."""
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
