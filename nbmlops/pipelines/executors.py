"""Where steps execute: one papermill call per step, in local threads or on Dask distributed.

Each step is a kernel process, so threads are enough locally: the runner thread only
waits on the kernel. On Dask, the same :func:`execute_step` runs on a worker, which
needs the notebooks, the data and the metadata store (PostgreSQL or a shared SQLite
file) at the same paths.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbmlops.errors import PipelineError

Execute = Callable[..., Any]
CellHook = Callable[[str, int, int], None]  # (step, cell number, cell count)


@dataclass(frozen=True)
class StepTask:
    """Everything needed to execute one step's notebook (picklable, for Dask)."""

    step: str
    notebook: str
    output_path: str
    parameters: dict[str, Any]
    cwd: str
    env: dict[str, str]
    kernel: str | None = None
    timeout: float | None = None
    python: str | None = None  # run an ipykernel kernel with this interpreter


@dataclass(frozen=True)
class StepResult:
    """How one attempt at a step went."""

    ok: bool
    duration: float
    cell_index: int | None = None
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    timed_out: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _engine_kwargs(task: StepTask, token: str, started: list[int],
                   on_cell: CellHook | None) -> dict[str, Any]:
    from traitlets.config import Config

    from nbmlops.pipelines.kernel import StepKernelManager

    config = Config({"StepKernelManager": {"extra_env": task.env, "kernel_cwd": task.cwd,
                                           "token": token, "python": task.python or ""}})

    def on_cell_start(cell: Any, cell_index: int) -> None:
        started.append(cell_index)

    def on_cell_complete(cell: Any, cell_index: int) -> None:
        if on_cell is not None:
            on_cell(task.step, cell_index + 1, total[0])

    def on_notebook_start(notebook: Any) -> None:
        total[0] = len(notebook.cells)

    total = [0]
    # store_widget_state=False: an executed step is never trusted, so saved widget state
    # would only make nbconvert fetch widget JS from a CDN; without it, every frontend
    # shows the text/html snapshot the nbmlops panels put in their outputs.
    return dict(kernel_manager_class=StepKernelManager, config=config,
                store_widget_state=False, shell_timeout_interval=1, on_cell_start=on_cell_start,
                on_cell_complete=on_cell_complete, on_notebook_start=on_notebook_start)


def execute_step(task: StepTask, execute: Execute | None = None,
                 on_cell: CellHook | None = None) -> StepResult:
    """Execute a step's notebook once with papermill; never raises for notebook failures."""
    from nbmlops.pipelines.kernel import forget, kill_kernel

    if execute is None:
        import papermill

        execute = papermill.execute_notebook
    started: list[int] = []
    token, fired = uuid.uuid4().hex, threading.Event()

    def expire() -> None:
        fired.set()
        kill_kernel(token)

    timer = threading.Timer(task.timeout, expire) if task.timeout else None
    t0 = time.perf_counter()
    try:
        if timer is not None:
            timer.daemon = True
            timer.start()
        # a notebook that names no kernel (task.python set) names no language either
        language = {"language": "python"} if task.python else {}
        execute(task.notebook, task.output_path, parameters=task.parameters,
                kernel_name=task.kernel, progress_bar=False, log_output=False, **language,
                **_engine_kwargs(task, token, started, on_cell))
        return StepResult(True, time.perf_counter() - t0)
    except BaseException as exc:  # noqa: B036 - a step failure of any kind is reported
        if isinstance(exc, KeyboardInterrupt):
            kill_kernel(token)
            raise
        return _failure(task, exc, time.perf_counter() - t0, started, fired.is_set())
    finally:
        if timer is not None:
            timer.cancel()
        forget(token)
        _close_thread_loop()


def _close_thread_loop() -> None:
    """Close the event loop nbclient made for this worker thread (it would leak otherwise)."""
    import asyncio

    if threading.current_thread() is threading.main_thread():
        return
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running():
        loop.close()
        policy.set_event_loop(None)


def _failure(task: StepTask, exc: BaseException, duration: float, started: list[int],
             timed_out: bool) -> StepResult:
    if timed_out:
        cell = started[-1] if started else None
        return StepResult(False, duration, cell, "TimeoutError",
                          f"step exceeded its timeout of {task.timeout:g}s; the kernel was "
                          "killed", timed_out=True)
    cell_index = getattr(exc, "cell_index", None)
    if cell_index is None and started:
        cell_index = started[-1]
    ename = getattr(exc, "ename", None) or type(exc).__name__
    evalue = getattr(exc, "evalue", None) or str(exc).strip().splitlines()[-1:] or [""]
    if isinstance(evalue, list):
        evalue = evalue[0]
    tb = getattr(exc, "traceback", None)
    text = "\n".join(tb) if isinstance(tb, list) else "".join(traceback.format_exception(exc))
    return StepResult(False, duration, cell_index, str(ename), str(evalue), text)


class BaseExecutor:
    """Runs step tasks concurrently; implementers return futures with ``.result()``."""

    jobs: int = 1
    remote: bool = False  # True when hooks cannot call back into this process

    def submit(self, fn: Callable[..., StepResult], *args: Any) -> Any:
        """Start ``fn(*args)`` and return a future."""
        raise NotImplementedError

    def wait_any(self, futures: list[Any]) -> list[Any]:
        """Block until at least one future is done; return the done ones."""
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (and clusters this executor started)."""


class LocalExecutor(BaseExecutor):
    """Up to ``jobs`` steps at once, each in a thread waiting on its own kernel process."""

    def __init__(self, jobs: int = 1) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if jobs < 1:
            raise PipelineError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="nbmlops-step")

    def submit(self, fn: Callable[..., StepResult], *args: Any) -> Any:
        """Start ``fn(*args)`` in a worker thread."""
        return self._pool.submit(fn, *args)

    def wait_any(self, futures: list[Any]) -> list[Any]:
        """Block until at least one future is done."""
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return list(done)

    def close(self) -> None:
        """Shut the thread pool down."""
        self._pool.shutdown(wait=True)


class DaskExecutor(BaseExecutor):
    """Steps as tasks on Dask distributed: ``address`` of a scheduler, or a local cluster."""

    remote = True

    def __init__(self, address: str | None = None, jobs: int = 1,
                 connect_timeout: float = 10.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            from nbmlops.errors import MissingDependencyError

            raise MissingDependencyError("distributed", "dask") from exc
        self.jobs, self._cluster = jobs, None
        try:
            if address is None:
                self._cluster = LocalCluster(n_workers=1, threads_per_worker=max(jobs, 1),
                                             processes=False, dashboard_address=None)
                address = self._cluster.scheduler_address
            self._client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise PipelineError(
                f"could not reach the Dask scheduler at {address} within "
                f"{connect_timeout:g}s ({exc}); check --address and that the scheduler runs"
            ) from exc

    def submit(self, fn: Callable[..., StepResult], *args: Any) -> Any:
        """Submit ``fn(*args)`` as a non-pure task (every step execution is new)."""
        return self._client.submit(fn, *args, pure=False)

    def wait_any(self, futures: list[Any]) -> list[Any]:
        """Block until at least one task is done (without making our client the default)."""
        event = threading.Event()
        for future in futures:
            future.add_done_callback(lambda _f: event.set())
        while not any(f.done() for f in futures):
            event.wait(1.0)
        return [f for f in futures if f.done()]

    def close(self) -> None:
        """Close the client (and the local cluster, if this executor started one)."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(executor: str, *, jobs: int = 1, address: str | None = None,
                  connect_timeout: float = 10.0) -> BaseExecutor:
    """Return the executor named ``local`` or ``dask``."""
    if executor == "local":
        if address:
            raise PipelineError("--address is only used with --executor dask")
        return LocalExecutor(jobs)
    if executor == "dask":
        return DaskExecutor(address, jobs, connect_timeout)
    raise PipelineError(f"unknown executor {executor!r}; use 'local' or 'dask'")
