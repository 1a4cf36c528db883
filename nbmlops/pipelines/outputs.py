"""``nbmlops.output(name, value)``: hand a small value from a step to later steps.

Inside a pipeline step the runner passes ``NBMLOPS_OUTPUTS_FILE``: the kernel appends
one JSON line per call to that file instead of opening the metadata store (importing
SQLAlchemy and checking the schema costs ~0.15 s per kernel), and the runner records
the lines into the store when the step ends (:func:`ingest_outputs_file`).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from nbmlops.errors import InvalidNameError, ValidationError
from nbmlops.tracking.values import plain

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,249}")

#: outputs recorded outside any pipeline step or run (the notebook ran on its own)
standalone: dict[str, Any] = {}

#: the environment variable naming a step's outputs file (set by the pipeline runner)
OUTPUTS_FILE_ENV = "NBMLOPS_OUTPUTS_FILE"


def _plain(name: str, value: Any) -> Any:
    value = plain(value)  # numpy / pandas scalars and arrays
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"output {name!r} must be a JSON value (number, string, bool, list, dict) "
            f"without NaN, got {type(value).__name__}; save large objects as files and "
            "declare them under the step's 'outputs'"
        ) from exc
    return value


def _target_run() -> str | None:
    from nbmlops.tracking import active
    from nbmlops.tracking.run import env_parent_run

    step_run = env_parent_run()  # inside a pipeline step the runner sets this
    if step_run:
        return step_run
    current = active.current()
    return current.id if current else None


def output(name: str, value: Any) -> Any:
    """Record ``value`` as output ``name`` of the current step (or run) and return it.

    Inside a pipeline step the value goes to the step's run, where later steps read it
    as ``${steps.STEP.outputs.NAME}`` and the caller as ``PipelineRun.outputs``. Numbers
    are also logged as metrics of that run (so ``nbmlops reproduce`` compares them).
    Outside any run the value is kept in memory, so the notebook still runs on its own.

    Parameters
    ----------
    name : str
        Letters, digits, ``_`` and ``-``, starting with a letter or ``_``.
    value : object
        A JSON-able value (NumPy and pandas scalars and arrays are converted).

    Returns
    -------
    object
        ``value``, as stored.

    Raises
    ------
    InvalidNameError
        ``name`` cannot be read back as ``${steps.S.outputs.NAME}``.
    ValidationError
        ``value`` is not JSON-able.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError("output", name, "use letters, digits, '_' and '-', starting "
                               "with a letter or '_' (it is read as ${steps.S.outputs.NAME})")
    value = _plain(name, value)
    run_id = _target_run()
    if run_id is None:
        standalone[name] = value
        return value
    from nbmlops.tracking.run import env_parent_run

    channel = os.environ.get(OUTPUTS_FILE_ENV)
    if channel and run_id == env_parent_run():
        line = json.dumps({"run_id": run_id, "name": name, "value": value, "time": time.time()},
                          allow_nan=False)
        with open(channel, "a", encoding="utf-8") as f:  # one write: a whole line or nothing
            f.write(line + "\n")
        return value
    from nbmlops.store.pipelines import pipeline_store

    record_output(pipeline_store(), run_id, name, value)
    return value


def _is_metric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def record_output(pstore: Any, run_id: str, name: str, value: Any) -> None:
    """Store an output value on a run, and numbers also as a metric of that run."""
    record_outputs(pstore, run_id, [(name, value, time.time())])


def record_outputs(pstore: Any, run_id: str, entries: list[tuple[str, Any, float]]) -> None:
    """Store ``(name, value, time)`` outputs on a run in call order.

    A later value of a name replaces an earlier one; each number is also stored as a
    metric row of that run.
    """
    if not entries:
        return
    pstore.set_outputs(run_id, {name: value for name, value, _ in entries})
    rows = [(run_id, name, float(value), 0, at) for name, value, at in entries
            if _is_metric(value)]
    if rows:
        pstore.sql.log_metric_rows(rows)


def read_outputs_file(path: str | Path, run_id: str) -> list[tuple[str, Any, float]]:
    """Return the ``(name, value, time)`` lines a step's kernel wrote for ``run_id``.

    A missing file means no outputs; a line cut short (the kernel was killed while
    writing) or written for another run is ignored.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("run_id") == run_id and "name" in rec:
            out.append((rec["name"], rec.get("value"), float(rec.get("time") or time.time())))
    return out


def ingest_outputs_file(pstore: Any, path: str | Path, run_id: str) -> None:
    """Record a finished step's outputs file into the store, then delete the file."""
    record_outputs(pstore, run_id, read_outputs_file(path, run_id))
    Path(path).unlink(missing_ok=True)
