"""Entry point of one scheduled execution: ``python -m nbmlops.pipelines._job SCHEDULE``."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run the named schedule's pipeline; return 0 when every step succeeded."""
    from nbmlops.errors import NbmlopsError
    from nbmlops.pipelines.progress import TerminalProgress
    from nbmlops.pipelines.schedules import execute_schedule

    if len(argv) != 1:
        print("usage: python -m nbmlops.pipelines._job SCHEDULE", file=sys.stderr)
        return 2
    try:
        result = execute_schedule(argv[0], progress=TerminalProgress(sys.stdout))
    except NbmlopsError as exc:
        print(f"schedule {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
