"""What a store holds: counts, schema version and size, counted in the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nbmlops.config import redact_urls

if TYPE_CHECKING:
    from nbmlops.config import Settings


@dataclass(frozen=True)
class StoreInfo:
    """Where the store is and how much it holds."""

    store_url: str
    artifact_url: str
    schema_version: int | None
    runs: int
    experiments: int
    models: int
    model_versions: int
    deployments: int
    size_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-able dict."""
        return asdict(self)


def store_info(*, settings: Settings | None = None) -> StoreInfo:
    """Return what the store holds, counted in SQL (no run is read).

    Parameters
    ----------
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    StoreInfo
        URLs (passwords redacted), schema version, row counts and the database size.

    Raises
    ------
    StoreUnavailableError
        The store cannot be opened or written.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.store import open_store

    settings = settings or resolve_settings()
    store, _ = open_store(settings)
    counts = store.count_rows()
    return StoreInfo(store_url=redact_urls(settings.store_url),
                     artifact_url=redact_urls(settings.artifact_url),
                     schema_version=store.schema_version(), size_bytes=store.size_bytes(),
                     **counts)


@dataclass(frozen=True)
class StoreUpgrade:
    """What opening the store for an upgrade did."""

    store_url: str
    from_version: int | None
    to_version: int
    backup: str | None

    def __str__(self) -> str:
        if self.from_version == self.to_version:
            return f"{self.store_url} is at schema version {self.to_version}: nothing to do"
        if not self.from_version:
            return f"{self.store_url}: new store created at schema version {self.to_version}"
        saved = f" (backup: {self.backup})" if self.backup else ""
        return (f"{self.store_url}: upgraded schema version {self.from_version} -> "
                f"{self.to_version}{saved}")


def upgrade_store(*, settings: Settings | None = None) -> StoreUpgrade:
    """Open the store, migrating it to this version's schema; say what was done.

    Parameters
    ----------
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    StoreUpgrade
        The version before and after, and the SQLite backup written before upgrading.

    Raises
    ------
    StoreError
        The store was written by a newer nbmlops (both versions are named).
    """
    from pathlib import Path

    from nbmlops.config import resolve_settings
    from nbmlops.store import open_store
    from nbmlops.store.migrations import backup_path

    settings = settings or resolve_settings()
    store, _ = open_store(settings)
    before, after = store.opened_at_version, store.schema_version() or 0
    backup = None
    if store.is_sqlite and before and before != after:
        path = backup_path(Path(store.url.split("sqlite:///", 1)[-1]), before)
        backup = str(path) if path.exists() else None
    return StoreUpgrade(redact_urls(settings.store_url), before, after, backup)
