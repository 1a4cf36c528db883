"""``nbmlops.output(name, value)``: hand a small value from a step to later steps."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from nbmlops.errors import InvalidNameError, ValidationError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,249}")

#: outputs recorded outside any pipeline step or run (the notebook ran on its own)
standalone: dict[str, Any] = {}


def _plain(name: str, value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / pandas scalars
    if hasattr(value, "tolist") and callable(value.tolist):
        value = value.tolist()
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
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError("output", name, "use letters, digits, '_' and '-', starting "
                               "with a letter or '_' (it is read as ${steps.S.outputs.NAME})")
    value = _plain(name, value)
    run_id = _target_run()
    if run_id is None:
        standalone[name] = value
        return value
    from nbmlops.store.pipelines import pipeline_store

    record_output(pipeline_store(), run_id, name, value)
    return value


def record_output(pstore: Any, run_id: str, name: str, value: Any) -> None:
    """Store an output value on a run, and numbers also as a metric of that run."""
    pstore.set_output(run_id, name, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        pstore.sql.log_metric_rows([(run_id, name, float(value), 0, time.time())])
