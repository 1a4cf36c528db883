"""Frozen records and enums shared by every layer; no I/O here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class RunStatus(str, enum.Enum):
    """Lifecycle state of a run."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @classmethod
    def parse(cls, value: str | RunStatus) -> RunStatus:
        """Return the status named by ``value`` (case-insensitive)."""
        from nbmlops.errors import ValidationError

        try:
            return cls(value.upper() if isinstance(value, str) else value)
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValidationError(f"unknown run status {value!r}; use one of {allowed}") from None


@dataclass(frozen=True)
class RunRecord:
    """One row of the runs table."""

    id: str
    experiment: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    parent_run_id: str | None = None
    notebook_path: str | None = None
    source: str | None = None
    source_hash: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    execution_count: int | None = None
    error: str | None = None
    environment_hash: str | None = None
    provenance_status: str | None = None
    pid: int | None = None
    host: str | None = None

    @property
    def duration(self) -> float | None:
        """Return the run's duration in seconds, or None while it runs."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class MetricPoint:
    """One logged metric value."""

    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(frozen=True)
class ArtifactInfo:
    """A named artifact of a run, pointing at a content-addressed blob."""

    name: str
    sha256: str
    size: int
    media_type: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset fingerprint with its schema and summary statistics."""

    fingerprint: str
    name: str
    kind: str
    shape: tuple[int, ...]
    columns: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    role: str = "input"


@dataclass(frozen=True)
class Provenance:
    """Whether the state a tracked cell read was produced in order."""

    status: str  # "clean", "stale" or "unknown"
    reasons: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
