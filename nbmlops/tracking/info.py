"""What a store holds: counts, schema version and size, counted in the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

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


def redact_url(url: str) -> str:
    """Return ``url`` with the password part of its credentials replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


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
    """
    from nbmlops.config import resolve_settings
    from nbmlops.store import open_store

    settings = settings or resolve_settings()
    store, _ = open_store(settings)
    counts = store.count_rows()
    return StoreInfo(store_url=redact_url(settings.store_url),
                     artifact_url=redact_url(settings.artifact_url),
                     schema_version=store.schema_version(), size_bytes=store.size_bytes(),
                     **counts)
