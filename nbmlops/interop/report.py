"""What an export or import did: counts, and what was reported instead of failing."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TransferReport:
    """Counts of what was created and skipped, and the problems met on the way."""

    direction: str
    target: str
    runs_created: int = 0
    runs_skipped: int = 0
    versions_created: int = 0
    versions_skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.direction} {self.target}: {self.runs_created} runs created, "
                 f"{self.runs_skipped} already there; {self.versions_created} model versions "
                 f"created, {self.versions_skipped} already there"]
        lines += [f"  note: {p}" for p in self.problems]
        return "\n".join(lines)
