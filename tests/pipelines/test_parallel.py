"""Independent steps in parallel: local threads (--jobs) and Dask distributed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import nbmlops
from nbmlops.errors import PipelineError
from tests.conftest import require


def windows(result: nbmlops.pipelines.results.PipelineRun, *names: str) -> list[tuple]:
    runs = [nbmlops.get_run(result.steps[n].run_id).info for n in names]
    return [(r.start_time, r.end_time) for r in runs]


def test_jobs_run_independent_steps_at_once(misc: Path) -> None:
    result = nbmlops.run_pipeline(misc / "parallel.yaml", jobs=2, progress=False)
    assert result.ok, result.summary()
    (a0, a1), (b0, b1) = windows(result, "left", "right")
    assert a0 < b1 and b0 < a1  # the two step runs overlapped
    assert result.outputs["join"] == {"tag": "left-right"}
    assert (misc / "out_left-right.txt").read_text() == "left-right"


def _distributed() -> Any:
    """Return dask.distributed: skipped locally when missing, a failure in CI."""
    require(importlib.util.find_spec("distributed") is not None,
            "dask distributed is not installed (pip install 'nbmlops[dask]')")
    import distributed

    return distributed


def test_dask_local_cluster(basic: Path) -> None:
    distributed = _distributed()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        result = nbmlops.run_pipeline(basic / "pipeline.yaml", executor="dask",
                                      address=cluster.scheduler_address, progress=False)
    assert result.ok, result.summary()
    assert [s.status for s in result.steps.values()] == ["ran", "ran", "ran"]
    assert result.outputs["evaluate"] == {"score": 1.0}
    train = nbmlops.get_run(result.steps["train"].run_id)
    assert train.info.parent_run_id == result.run_id and "coef" in train.metrics


def test_dask_address_that_does_not_answer(basic: Path) -> None:
    _distributed()
    with pytest.raises(PipelineError, match="could not reach the Dask scheduler at "
                                            "tcp://127.0.0.1:9 within 1s"):
        nbmlops.run_pipeline(basic / "pipeline.yaml", executor="dask",
                             address="tcp://127.0.0.1:9", connect_timeout=1, progress=False)


def test_unknown_executor_and_bad_jobs(basic: Path) -> None:
    with pytest.raises(PipelineError, match="unknown executor 'spark'"):
        nbmlops.run_pipeline(basic / "pipeline.yaml", executor="spark", progress=False)
    with pytest.raises(PipelineError, match="--jobs must be at least 1"):
        nbmlops.run_pipeline(basic / "pipeline.yaml", jobs=0, progress=False)
