"""SqlStore: the metadata store on SQLAlchemy Core, for sqlite:// and postgresql:// URLs.

The class is assembled from one part per job: ``sqlbase`` (engine, transactions, error
translation, migrations on open), ``sql_runs`` (experiments, runs, search, reaping),
``sql_values`` (params, metrics, tags), ``sql_records`` (artifacts, datasets,
environments) and ``sql_bulk`` (many finished runs at once, on top of ``sql_runs``).
"""

from __future__ import annotations

from nbmlops.store.sql_bulk import BulkMixin
from nbmlops.store.sql_records import RecordsMixin
from nbmlops.store.sql_values import ValuesMixin
from nbmlops.store.sqlbase import HOST

__all__ = ["HOST", "SqlStore"]


class SqlStore(BulkMixin, ValuesMixin, RecordsMixin):
    """The metadata store; one instance per URL per process is enough (it pools)."""
