"""BaseStore: the typed operations every metadata backend implements.

Implementers must guarantee that every write is atomic (a failed call leaves the
store as it was), that timestamps are UTC epoch seconds, and that lookups of
missing things raise the matching :class:`~nbmlops.errors.NotFoundError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from nbmlops.entities import ArtifactInfo, DatasetInfo, MetricPoint, RunRecord, RunStatus

#: (run_id, key, value, step, timestamp)
MetricRow = tuple[str, str, float, int, float]


class BaseStore:
    """Metadata store interface; see :class:`nbmlops.store.sql.SqlStore`."""

    url: str

    # runs ---------------------------------------------------------------
    def create_run(self, experiment: str, name: str, **fields: Any) -> RunRecord:
        """Insert a RUNNING run and return it."""
        raise NotImplementedError

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Update columns of a run (status, end_time, error, provenance...)."""
        raise NotImplementedError

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Mark a run ended now with ``status``."""
        raise NotImplementedError

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        """Record that the process owning these runs is alive."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> RunRecord:
        """Return one run or raise RunNotFound."""
        raise NotImplementedError

    def search_runs(
        self,
        experiment: str | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        """Return runs matching a filter expression, evaluated in the database."""
        raise NotImplementedError

    def latest_run(self, parent_run_id: str | None) -> RunRecord | None:
        """Return the most recently started run whose parent is ``parent_run_id``.

        ``None`` asks for the newest top-level run (one without a parent).
        """
        raise NotImplementedError

    def reap_dead_runs(self) -> list[str]:
        """Mark RUNNING runs whose process is gone as KILLED; return their ids."""
        raise NotImplementedError

    # params, metrics, tags ---------------------------------------------
    def log_params(self, run_id: str, params: dict[str, tuple[str, float | None, str]]) -> None:
        """Store params as {key: (text, numeric view, kind)}; conflicting values raise."""
        raise NotImplementedError

    def log_metric_rows(self, rows: Iterable[MetricRow]) -> None:
        """Append metric points (history) and update the latest values."""
        raise NotImplementedError

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Insert or replace tags."""
        raise NotImplementedError

    def get_params(self, run_ids: Sequence[str]) -> dict[str, dict[str, tuple[str, str]]]:
        """Return {run_id: {key: (text, kind)}}."""
        raise NotImplementedError

    def get_latest_metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Return {run_id: {key: latest value}}."""
        raise NotImplementedError

    def get_metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Return every logged point of a metric, ordered by step then time."""
        raise NotImplementedError

    def get_tags(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Return {run_id: {key: value}}."""
        raise NotImplementedError

    # artifacts, datasets, environments -----------------------------------
    def add_artifact(self, run_id: str, info: ArtifactInfo, meta: dict[str, Any] | None) -> None:
        """Record a named artifact of a run."""
        raise NotImplementedError

    def list_artifacts(self, run_id: str) -> list[ArtifactInfo]:
        """Return a run's artifacts."""
        raise NotImplementedError

    def get_artifact(self, run_id: str, name: str) -> tuple[ArtifactInfo, dict[str, Any]]:
        """Return one artifact and its metadata, or raise ArtifactNotFound."""
        raise NotImplementedError

    def add_dataset(self, run_id: str, info: DatasetInfo) -> None:
        """Store a dataset fingerprint (once) and link it to a run."""
        raise NotImplementedError

    def list_datasets(self, run_id: str) -> list[DatasetInfo]:
        """Return the datasets linked to a run."""
        raise NotImplementedError

    def put_environment(self, env_hash: str, env: dict[str, Any]) -> None:
        """Store an environment once per hash."""
        raise NotImplementedError

    def get_environment(self, env_hash: str) -> dict[str, Any]:
        """Return a stored environment."""
        raise NotImplementedError

    def known_keys(self, kind: str, experiment: str | None = None) -> set[str]:
        """Return the distinct metric/param/tag keys ever logged."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""
