"""Storage: the only code that talks to the metadata database and the artifact store."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbmlops.config import Settings
    from nbmlops.store.artifacts import ArtifactStore
    from nbmlops.store.sql import SqlStore

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[SqlStore, ArtifactStore]] = {}

#: scheme -> ("module:Class", extra that provides its driver)
BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("nbmlops.store.sql:SqlStore", "core"),
    "postgresql": ("nbmlops.store.sql:SqlStore", "postgres"),
}


def open_store(settings: Settings | None = None) -> tuple[SqlStore, ArtifactStore]:
    """Return the (metadata, artifact) stores for ``settings``; cached per URL."""
    from nbmlops.config import resolve_settings

    settings = settings or resolve_settings()
    key = (settings.store_url, settings.artifact_url)
    with _lock:
        if key not in _cache:
            meta = _make_meta(settings)
            try:
                _cache[key] = (meta, _make_artifacts(settings.artifact_url))
            except BaseException:
                meta.close()  # a refused artifact URL leaves no database connection open
                raise
        return _cache[key]


def _make_meta(settings: Settings) -> SqlStore:
    import importlib

    from nbmlops.errors import ConfigError, MissingDependencyError

    scheme = settings.store_url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in BACKENDS:
        raise ConfigError(
            f"unsupported store URL {settings.store_url!r}; use sqlite:///path/to/nbmlops.db "
            "or postgresql+psycopg://user@host/db"
        )
    target, extra = BACKENDS[scheme]
    module, cls = target.split(":")
    try:
        store_cls = getattr(importlib.import_module(module), cls)
        return store_cls(settings.store_url, heartbeat_timeout=settings.heartbeat_timeout)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(exc.name or scheme, extra) from exc


def _make_artifacts(url: str) -> ArtifactStore:
    from nbmlops.store.artifacts import ArtifactStore

    return ArtifactStore(url)


def reset() -> None:
    """Forget cached stores (tests, or after changing NBMLOPS_* variables)."""
    with _lock:
        for meta, _ in _cache.values():
            meta.close()
        _cache.clear()
