"""The tracking API: start and end runs, log to the active run, query runs."""

from __future__ import annotations

import hashlib
import os
import sys
from typing import TYPE_CHECKING, Any

from nbmlops.entities import ArtifactInfo, DatasetInfo, RunStatus
from nbmlops.errors import NbmlopsError, RunNotFound, ValidationError
from nbmlops.names import validate_name
from nbmlops.tracking import active
from nbmlops.tracking.buffer import get_buffer
from nbmlops.tracking.run import Run, env_parent_run

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.config import Settings

_exit_hook_installed = False


def _stores(settings: Settings | None = None) -> tuple[Any, Any]:
    from nbmlops.store import open_store

    return open_store(settings)


def start_run(
    name: str | None = None,
    experiment: str = "default",
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    *,
    parent: str | Run | None = None,
    source: str | None = None,
    notebook_path: str | None = None,
    execution_count: int | None = None,
    capture: bool = True,
    settings: Settings | None = None,
) -> Run:
    """Return a new RUNNING run, made active; nested in the active run if there is one.

    Use it as a context manager: the run ends FINISHED, or FAILED with the traceback
    if the block raises (the exception still propagates).

    Parameters
    ----------
    name : str, optional
        The run name; ``run-<id prefix>`` by default.
    experiment : str
        The experiment it belongs to.
    params, tags : dict, optional
        Logged at once.
    parent : str or Run, optional
        The parent run; the active run (or ``NBMLOPS_PARENT_RUN_ID``) by default.
    source, notebook_path, execution_count : optional
        The code and where it ran (``%%track`` fills them in).
    capture : bool
        Record the environment, git commit and notebook path.
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    Run
        The new run.

    Raises
    ------
    InvalidNameError
        ``name``, ``experiment`` or a param/tag key breaks the naming rules (nothing is
        left running).
    RunNotFound
        ``parent`` names no run.
    StoreUnavailableError
        The store cannot be opened or written.
    """
    validate_name(experiment, "experiment")
    if name is not None:
        validate_name(name, "run")
    parent_id = _parent_id(parent)
    store, artifacts = _stores(settings)
    fields: dict[str, Any] = dict(parent_run_id=parent_id, source=source,
                                  execution_count=execution_count)
    if source is not None:
        fields["source_hash"] = hashlib.sha256(source.encode()).hexdigest()
    if capture:
        fields.update(_capture(store, notebook_path))
    elif notebook_path:
        fields["notebook_path"] = notebook_path
    import uuid

    run_id = uuid.uuid4().hex
    record = store.create_run(experiment, name or f"run-{run_id[:8]}", id=run_id, **fields)
    run = Run(record, store, artifacts)
    try:
        if params:
            run.log_params(params)
        if tags:
            run.set_tags(tags)
    except NbmlopsError:
        store.end_run(run.id, RunStatus.FAILED, "invalid params or tags at start")
        raise
    active.push(run)
    get_buffer().watch(store, run.id)
    _install_exit_hook()
    if capture and parent_id is None:  # a pipeline step's run is reproduced by its pipeline
        _record_session(run)
    return run


def _record_session(run: Run) -> None:
    """Keep the kernel's execution history on a top-level run made in a Jupyter kernel."""
    from nbmlops.tracking.session import kernel_shell, record_session

    shell = kernel_shell()
    if shell is not None:
        record_session(run, shell)


def _parent_id(parent: str | Run | None) -> str | None:
    if isinstance(parent, Run):
        return parent.id
    if parent:
        return parent
    current = active.current()
    return current.id if current else env_parent_run()


def _capture(store: Any, notebook_path: str | None) -> dict[str, Any]:
    from pathlib import Path

    from nbmlops.tracking.capture import capture_environment, git_state

    env_hash, env = capture_environment()
    store.put_environment(env_hash, env)
    folder = Path(notebook_path).parent if notebook_path else None
    commit, dirty = git_state(folder if folder and folder.is_dir() else None)
    return dict(environment_hash=env_hash, git_commit=commit, git_dirty=dirty,
                notebook_path=notebook_path)


def active_run() -> Run | None:
    """Return the innermost active run, or None.

    Returns
    -------
    Run or None
        The run opened last by ``start_run``/``%%track`` and not ended yet.
    """
    return active.current()


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run with ``status`` (FINISHED by default).

    Parameters
    ----------
    status : RunStatus or str
        ``FINISHED``, ``FAILED`` or ``KILLED``.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    ValidationError
        ``status`` is not a run status.
    """
    run = active.current()
    if run is None:
        raise ValidationError("there is no active run to end; start one with start_run()")
    run.end(status)


def _require_active() -> Run:
    run = active.current()
    if run is None:
        raise ValidationError(
            "no active run: call nbmlops.start_run() (or use %%track) before logging"
        )
    return run


def log_param(key: str, value: Any) -> None:
    """Log a param on the active run.

    Parameters
    ----------
    key : str
        The param name.
    value : object
        A JSON-able value.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        ``key`` breaks the naming rules.
    ConflictError
        ``key`` was already logged on this run with another value.
    """
    _require_active().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Log params on the active run.

    Parameters
    ----------
    params : dict of str to object
        Param names and JSON-able values.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        A key breaks the naming rules.
    ConflictError
        A key was already logged on this run with another value.
    """
    _require_active().log_params(params)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    """Queue a metric value on the active run (cheap; flushed in batches).

    Parameters
    ----------
    key : str
        The metric name.
    value : float
        A finite number.
    step : int, optional
        The training step; the point's position in the metric history otherwise.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        ``key`` breaks the naming rules.
    ValidationError
        ``value`` is not a finite number or ``step`` is not an int.
    """
    _require_active().log_metric(key, value, step)


def log_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    """Queue several metric values on the active run.

    Parameters
    ----------
    metrics : dict of str to float
        Metric names and values, as for :func:`log_metric`.
    step : int, optional
        The training step of every value.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        A key breaks the naming rules.
    ValidationError
        A value is not a finite number or ``step`` is not an int.
    """
    _require_active().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run.

    Parameters
    ----------
    key : str
        The tag name.
    value : object
        The tag value, stored as text.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        ``key`` breaks the naming rules.
    """
    _require_active().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    """Set tags on the active run.

    Parameters
    ----------
    tags : dict of str to object
        Tag names and values, stored as text.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        A key breaks the naming rules.
    """
    _require_active().set_tags(tags)


def log_artifact(obj: Any, name: str | None = None) -> list[ArtifactInfo]:
    """Store an artifact (file, folder, text, bytes, figure, DataFrame) on the active run.

    Parameters
    ----------
    obj : object
        A path (file or folder), ``str``, ``bytes``, a matplotlib figure, a DataFrame or a
        JSON-able value.
    name : str, optional
        The artifact name; taken from the file name (or the object's kind) by default.

    Returns
    -------
    list of ArtifactInfo
        One entry per stored blob (several for a folder): name, sha256, size, media type.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    InvalidNameError
        An artifact name breaks the naming rules.
    StoreUnavailableError
        The store cannot be opened or written.
    """
    return _require_active().log_artifact(obj, name)


def log_model(model: Any, name: str = "model", **options: Any) -> ArtifactInfo:
    """Save a model safely on the active run; return its artifact.

    Parameters
    ----------
    model : object
        A fitted model (scikit-learn estimators are saved with skops).
    name : str
        The artifact name.
    **options
        ``input_example`` (rows kept with the model and used for its signature),
        ``trusted`` (extra skops types), ``unsafe_pickle=True`` (allow pickle).

    Returns
    -------
    ArtifactInfo
        The stored model artifact.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    UnsafeModelError
        The model can only be saved with pickle and ``unsafe_pickle`` is not set.
    InvalidNameError
        ``name`` breaks the naming rules.
    """
    return _require_active().log_model(model, name, **options)


def log_dataset(data: Any, name: str, *, role: str = "input") -> DatasetInfo:
    """Fingerprint a dataset and link it to the active run.

    Parameters
    ----------
    data : object
        A DataFrame, Series, NumPy array or file path.
    name : str
        The dataset's name in the run.
    role : str
        ``"input"`` (default) or ``"output"``.

    Returns
    -------
    DatasetInfo
        The fingerprint, shape, columns and statistics that were stored.

    Raises
    ------
    ValidationError
        There is no active run (start one with ``start_run`` or ``%%track``).
    ValidationError
        ``role`` is neither ``"input"`` nor ``"output"``, or ``data`` cannot be fingerprinted.
    """
    return _require_active().log_dataset(data, name, role=role)


def get_run(run_id: str, *, settings: Settings | None = None) -> Run:
    """Return the run with this id.

    Parameters
    ----------
    run_id : str
        The full run id (``nbmlops.resolve_run`` also takes a prefix or ``"last"``).
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    Run
        The run, with its params, metrics, artifacts and provenance.

    Raises
    ------
    RunNotFound
        No run has this id.
    StoreUnavailableError
        The store cannot be opened or written.
    """
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFound(run_id)
    store, artifacts = _stores(settings)
    get_buffer().flush_quietly()
    return Run(store.get_run(run_id), store, artifacts)


def last_run(*, settings: Settings | None = None) -> Run:
    """Return the most recently started top-level run.

    Top-level for this process: a run without a parent, or inside a pipeline step (where
    the runner sets ``NBMLOPS_PARENT_RUN_ID``) a run directly under the step's run. Runs
    nested deeper (a sweep's children under a ``%%track`` run) are never "last": their
    parent is.

    Parameters
    ----------
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    Run
        The newest run at this process's top level.

    Raises
    ------
    RunNotFound
        The store holds no such run yet.
    StoreUnavailableError
        The store cannot be opened or written.
    """
    from nbmlops.tracking.run import env_parent_run

    store, artifacts = _stores(settings)
    found = store.latest_run(env_parent_run())
    if found is None:
        raise RunNotFound("last", "no runs recorded yet")
    return Run(found, store, artifacts)


def resolve_run(ref: str | Run | None = "last", *, settings: Settings | None = None) -> Run:
    """Return the run ``ref`` names: a Run, a run id, a unique id prefix, or ``"last"``.

    Parameters
    ----------
    ref
        A Run (returned as is); a full run id; a prefix of one (at least 6 hexadecimal
        characters, matching exactly one run, nested runs included); or ``"last"``/None,
        the active run if one is open, else the most recently started top-level run.
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    Run
        The run.

    Raises
    ------
    RunNotFound
        Nothing matches.
    ValidationError
        A prefix is shorter than 6 characters or matches several runs.
    """
    if isinstance(ref, Run):
        return ref
    if ref is None or ref == "last":
        current = active.current()
        return current if current is not None else last_run(settings=settings)
    if not isinstance(ref, str) or not ref.strip():
        raise RunNotFound(ref, _RUN_REF_HINT)
    ref = ref.strip().lower()
    if any(c not in "0123456789abcdef" for c in ref):
        raise RunNotFound(ref, _RUN_REF_HINT)
    if len(ref) == 32:
        return get_run(ref, settings=settings)
    if len(ref) < 6:
        raise ValidationError(f"run id prefix {ref!r} is too short; give at least 6 characters")
    store, artifacts = _stores(settings)
    get_buffer().flush_quietly()
    found = store.search_runs(filter=f"run_id like '{ref}%'", max_results=2)
    if not found:
        raise RunNotFound(ref, "no run id starts with it; list runs with `nbmlops runs list`")
    if len(found) > 1:
        raise ValidationError(f"run id prefix {ref!r} matches several runs "
                              f"({found[0].id[:12]}…, {found[1].id[:12]}…); give more of it")
    return Run(found[0], store, artifacts)


_RUN_REF_HINT = ("a run is named by its id (32 hexadecimal characters), a unique prefix of at "
                 "least 6 of them, or 'last'")


def runs(
    experiment: str | None = None,
    filter: str | None = None,
    order_by: str | list[str] | None = None,
    max_results: int | None = None,
    *,
    page_token: str | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Return a DataFrame of runs: run_id, name, status, start_time, duration, params, metrics.

    Parameters
    ----------
    experiment : str, optional
        Only runs of this experiment.
    filter : str, optional
        Evaluated in SQL, e.g. ``"metrics.acc > 0.9 and params.model = 'rf'"``.
    order_by : str or list of str, optional
        e.g. ``"metrics.acc DESC"``; newest first otherwise.
    max_results : int, optional
        At most this many runs.
    page_token : str, optional
        The previous frame's ``attrs["next_page_token"]``: the next ``max_results`` runs are
        returned, through the same paging as :func:`runs_page`.
    settings : Settings, optional
        Which store; found from the working directory by default.

    Returns
    -------
    pandas.DataFrame
        One row per run, with ``params.<key>`` and ``metrics.<key>`` columns.

    Raises
    ------
    FilterError
        The filter does not parse or names an unknown column.
    ValidationError
        ``max_results`` is not a non-negative int, or ``page_token`` is malformed.
    """
    from nbmlops.tracking.paging import MAX_PAGE_SIZE, runs_page
    from nbmlops.tracking.query import runs_frame

    if max_results is not None and (isinstance(max_results, bool)
                                    or not isinstance(max_results, int) or max_results < 0):
        raise ValidationError(f"max_results must be a non-negative int, got {max_results!r}")
    if page_token is not None or (max_results and max_results <= MAX_PAGE_SIZE):
        # one page: the frame says where the next one starts
        page = runs_page(experiment, filter, order_by, page_size=max_results or 100,
                         page_token=page_token, count=False, settings=settings)
        page.frame.attrs["next_page_token"] = page.next_page_token
        return page.frame
    store, _ = _stores(settings)
    get_buffer().flush_quietly()
    if isinstance(order_by, str):
        order_by = [order_by]
    rows = store.search_run_summaries(experiment, filter, order_by, max_results)
    return runs_frame(store, rows)


def _install_exit_hook() -> None:
    """End still-active runs at interpreter exit (FAILED if an exception is escaping)."""
    global _exit_hook_installed
    if _exit_hook_installed:
        return
    _exit_hook_installed = True
    import atexit

    previous = sys.excepthook
    failure: list[str] = []

    def hook(tp: Any, value: Any, tb: Any) -> None:
        import traceback

        failure.append("".join(traceback.format_exception(tp, value, tb)))
        previous(tp, value, tb)

    sys.excepthook = hook

    def at_exit() -> None:
        for run in reversed(active.all_active()):
            try:
                if failure:
                    run.end(RunStatus.FAILED, failure[-1])
                else:
                    run.end(RunStatus.FINISHED)
            except Exception:
                pass

    atexit.register(at_exit)
    os.register_at_fork(after_in_child=active.clear)
