"""No logged value is lost: flush at run end, at interpreter exit, and across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbmlops
from nbmlops.entities import RunStatus


def _run_script(source: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ), cwd=tmp_path)


def test_values_visible_after_end_run() -> None:
    run = nbmlops.start_run()
    for i in range(500):
        nbmlops.log_metric("m", float(i))
    nbmlops.end_run()
    hist = run.metric_history("m")
    assert list(hist["value"]) == [float(i) for i in range(500)]


def test_values_visible_to_readers_while_running() -> None:
    with nbmlops.start_run() as run:
        nbmlops.log_metric("m", 1.0)
        assert nbmlops.get_run(run.id).metrics == {"m": 1.0}  # readers flush first
        assert nbmlops.runs().loc[0, "metrics.m"] == 1.0


def test_exit_without_end_run_flushes_everything(tmp_path: Path) -> None:
    proc = _run_script("""
        import nbmlops
        run = nbmlops.start_run("no-end")
        for i in range(10_000):
            nbmlops.log_metric("m", i * 0.5)
        print(run.id)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = nbmlops.get_run(proc.stdout.strip())
    assert run.status is RunStatus.FINISHED
    hist = run.metric_history("m")
    assert len(hist) == 10_000
    assert list(hist["step"]) == list(range(10_000))
    assert hist["value"].sum() == sum(i * 0.5 for i in range(10_000))


def test_uncaught_exception_marks_failed_and_keeps_metrics(tmp_path: Path) -> None:
    proc = _run_script("""
        import sys
        import nbmlops
        run = nbmlops.start_run("crash")
        print(run.id, flush=True)
        for i in range(1_000):
            nbmlops.log_metric("m", i)
        raise RuntimeError("training diverged")
    """, tmp_path)
    assert proc.returncode == 1
    assert "RuntimeError: training diverged" in proc.stderr  # the traceback is still shown
    run = nbmlops.get_run(proc.stdout.strip())
    assert run.status is RunStatus.FAILED
    assert "RuntimeError: training diverged" in (run.record.error or "")
    assert len(run.metric_history("m")) == 1_000


WORKER = """
    import sys
    import nbmlops
    worker, n = sys.argv[1], int(sys.argv[2])
    with nbmlops.start_run(f"worker-{worker}", params={"worker": worker}) as run:
        for i in range(n):
            nbmlops.log_metric("m", i)
            if i % 250 == 0:
                nbmlops.set_tag(f"t{i}", "x")
                nbmlops.log_param(f"p{i}", i)
        nbmlops.log_artifact(f"output of {worker}", name="out.txt")
"""


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(textwrap.dedent(WORKER))
    n, workers = 3_000, 4
    env = {**os.environ, "NBMLOPS_FLUSH_INTERVAL": "0.05"}  # many interleaved small flushes
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), str(w), str(n)],
                              env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    frame = nbmlops.runs()
    assert len(frame) == workers
    assert set(frame["status"]) == {"FINISHED"}
    for run_id in frame["run_id"]:
        run = nbmlops.get_run(run_id)
        hist = run.metric_history("m")
        assert list(hist["value"]) == [float(i) for i in range(n)]
        assert len(run.params) == 1 + len(range(0, n, 250))
        assert len(run.tags) == len(range(0, n, 250))
        assert run.load_artifact("out.txt") == f"output of {run.params['worker']}".encode()
