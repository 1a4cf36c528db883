"""Recent pipeline executions with the status of each step (what the sidebar and CLI list)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.pipelines.recording import KIND_TAG

if TYPE_CHECKING:
    from nbmlops.config import Settings

#: the largest number of pipeline executions one call returns
MAX_PIPELINE_RUNS = 200


def recent_pipeline_runs(limit: int = 20, *, settings: Settings | None = None
                         ) -> list[dict[str, Any]]:
    """Return the latest pipeline executions, newest first, each with its steps.

    Each item holds the pipeline run's fields (as in ``runs_page(...).to_dict()``) plus
    ``pipeline`` and ``steps``: ``[{"step", "run_id", "status", "reason", "duration",
    "attempts", "cached_from", "executed_notebook"}]`` in execution order. A step still
    executing has status ``running``; ``executed_notebook`` is the path of the executed
    copy when it exists.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.errors import FilterError, ValidationError
    from nbmlops.store.pipelines import pipeline_store
    from nbmlops.tracking.paging import runs_page

    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PIPELINE_RUNS:
        raise ValidationError(f"limit must be an int in 1..{MAX_PIPELINE_RUNS}, got {limit!r}")
    settings = settings or resolve_settings()
    try:
        page = runs_page(filter=f"tags.`{KIND_TAG}` = 'pipeline'", page_size=limit,
                         settings=settings)
    except FilterError:  # no run carries the tag: no pipeline ran in this store yet
        return []
    pstore = pipeline_store(settings)
    out: list[dict[str, Any]] = []
    for rec in page.to_dict()["runs"]:
        pipeline = str(rec.get("experiment") or rec.get("name"))
        records = {r["run_id"]: r for r in pstore.steps_of(rec["run_id"])}
        steps = []
        for child_id, child_name in pstore.children(rec["run_id"]):
            r = records.get(child_id)
            executed = (Path(settings.home) / "pipelines" / pipeline / rec["run_id"]
                        / f"{child_name}.ipynb")
            steps.append({
                "step": child_name, "run_id": child_id,
                "status": r["status"] if r else "running",
                "reason": r["reason"] if r else "",
                "duration": r["duration"] if r else None,
                "attempts": r["attempts"] if r else None,
                "cached_from": r["cached_from"] if r else None,
                "executed_notebook": str(executed) if executed.exists() else None,
            })
        out.append({**rec, "pipeline": pipeline, "steps": steps})
    return out
