"""Reproduce a run: re-execute its notebook (or pipeline) in a fresh kernel, compare metrics.

Which runs can be reproduced:

- a pipeline run: the pipeline runs again with its recorded params, ``force=True``;
- a pipeline step run: its notebook runs again with the step's recorded parameters;
- a run made inside a notebook (``%%track``, ``start_run``) whose notebook file is known:
  the notebook runs again at the run's params that its ``parameters`` cell defines, and
  the new run of the same name is compared;
- any other run made in a kernel (papermill, a notebook never saved, a console): the
  kernel's execution history recorded with the run (``tracking/session.py``), up to the
  cell that started it, is replayed in a fresh kernel, papermill's injected parameters
  included, and the new run of the same name (and params) is compared.

``Reproduction.source`` says which of these was used.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops._format import number
from nbmlops.errors import PipelineError
from nbmlops.pipelines import recording

Tree = dict[str, dict[str, float]]  # "step/run name" path -> metrics


@dataclass
class MetricCheck:
    """One metric compared: ``status`` is match, mismatch, missing or new."""

    path: str
    key: str
    old: float | None
    new: float | None
    status: str


@dataclass
class Reproduction:
    """The result of reproducing a run."""

    original_id: str
    new_run_id: str
    checks: list[MetricCheck] = field(default_factory=list)
    code_changes: list[str] = field(default_factory=list)
    env_changes: list[str] = field(default_factory=list)
    rtol: float = 1e-6
    atol: float = 0.0
    error: str | None = None
    source: str = ""

    @property
    def ok(self) -> bool:
        """Return whether it executed and every recorded metric came out within tolerance."""
        return self.error is None and all(c.status in ("match", "new") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict (stored as the new run's reproduction.json)."""
        return {"original": self.original_id, "new_run": self.new_run_id, "ok": self.ok,
                "source": self.source,
                "rtol": self.rtol, "atol": self.atol, "error": self.error,
                "checks": [c.__dict__ for c in self.checks],
                "code_changes": self.code_changes, "environment_changes": self.env_changes}

    def summary(self) -> str:
        """Return the comparison as text."""
        lines = [f"reproduce {self.original_id} -> {self.new_run_id}: "
                 f"{'REPRODUCED' if self.ok else 'NOT REPRODUCED'} "
                 f"(rtol={self.rtol:g}, atol={self.atol:g})"]
        if self.source:
            lines.append(f"  re-executed: {self.source}")
        if self.error:
            lines.append(f"  execution failed: {self.error}")
        for c in self.checks:
            where = f"{c.path}:" if c.path else ""
            lines.append(f"  {c.status:8} {where}{c.key}  recorded={number(c.old, '-')}  "
                         f"now={number(c.new, '-')}")
        if not self.checks:
            lines.append("  (no metrics were recorded to compare)")
        for title, items in (("code changed", self.code_changes),
                             ("environment changed", self.env_changes)):
            lines.append(f"  {title}: " + ("; ".join(items) if items else "nothing"))
        return "\n".join(lines)

    __str__ = summary


def compare(old: Tree, new: Tree, rtol: float, atol: float) -> list[MetricCheck]:
    """Return one MetricCheck per metric in either tree."""
    checks = []
    for path in sorted(set(old) | set(new)):
        o, n = old.get(path, {}), new.get(path, {})
        for key in sorted(set(o) | set(n)):
            a, b = o.get(key), n.get(key)
            if a is None:
                status = "new"
            elif b is None:
                status = "missing"
            elif (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol,
                                                                   abs_tol=atol):
                status = "match"
            else:
                status = "mismatch"
            checks.append(MetricCheck(path, key, a, b, status))
    return checks


def metric_tree(run_id: str, pstore: Any, prefix: str = "", depth: int = 3) -> Tree:
    """Return the metrics of a run and its descendants, keyed by their name path."""
    sql = pstore.sql
    tree: Tree = {prefix: sql.get_latest_metrics([run_id])[run_id]}
    if depth > 0:
        for child_id, name in pstore.children(run_id):
            path = f"{prefix}/{name}" if prefix else name
            tree.update(metric_tree(child_id, pstore, path, depth - 1))
    return {k: v for k, v in tree.items() if v or k == prefix}


def reproduce(run_id: str, *, rtol: float = 1e-6, atol: float = 0.0,
              progress: Any = None) -> Reproduction:
    """Return a Reproduction after re-executing what produced ``run_id`` in a fresh kernel.

    Raises
    ------
    PipelineError
        When the run records neither a pipeline nor a notebook.
    """
    from nbmlops.store.pipelines import pipeline_store
    from nbmlops.tracking.api import resolve_run
    from nbmlops.tracking.session import SESSION_TAG

    original = resolve_run(run_id)
    pstore = pipeline_store()
    tags = original.tags
    notebook = original.info.notebook_path
    if tags.get(recording.KIND_TAG) == "pipeline":
        result = _rerun_pipeline(original, tags, pstore, progress)
    elif notebook and (Path(notebook).is_file() or SESSION_TAG not in tags):
        result = _rerun_notebook(original, tags, pstore)
    elif (session := _session_of(original)) is not None:
        result = _rerun_session(original, session)
    else:
        why = tags.get(SESSION_TAG, "it was not made in a Jupyter kernel or by %%track")
        raise PipelineError(f"run {original.id} records no notebook, pipeline or kernel "
                            f"history, so it cannot be re-executed ({why})")
    result.rtol, result.atol = rtol, atol
    result.checks = compare(result_old(original, tags, pstore), result_new(result, original,
                                                                           tags, pstore),
                            rtol, atol)
    result.env_changes = environment_changes(original)
    _store(result, original)
    return result


def result_old(original: Any, tags: dict[str, str], pstore: Any) -> Tree:
    """Return the metrics recorded by the original run (and its children)."""
    if tags.get(recording.KIND_TAG) in ("pipeline", "pipeline-step"):
        return metric_tree(original.id, pstore)
    return {"": original.metrics}


def result_new(result: Reproduction, original: Any, tags: dict[str, str],
               pstore: Any) -> Tree:
    """Return the new metrics, matched to the original's shape."""
    if tags.get(recording.KIND_TAG) in ("pipeline", "pipeline-step"):
        return metric_tree(result.new_run_id, pstore)
    same = [child for child, name in _descendants(result.new_run_id, pstore)
            if name == original.name]
    if not same:
        return {}
    params = original.params
    chosen = next((c for c in reversed(same) if _params(c) == params), same[-1])
    return {"": pstore.sql.get_latest_metrics([chosen])[chosen]}


def _descendants(run_id: str, pstore: Any, depth: int = 3) -> list[tuple[str, str]]:
    """Return (run id, name) of a run's children, then theirs, in start order."""
    out: list[tuple[str, str]] = []
    for child_id, name in pstore.children(run_id):
        out.append((child_id, name))
        if depth > 1:
            out += _descendants(child_id, pstore, depth - 1)
    return out


def _params(run_id: str) -> dict[str, Any]:
    from nbmlops.tracking.api import get_run

    return get_run(run_id).params


def _rerun_pipeline(original: Any, tags: dict[str, str], pstore: Any,
                    progress: Any) -> Reproduction:
    from nbmlops.pipelines.notebooks import read_notebook
    from nbmlops.pipelines.runner import run_pipeline
    from nbmlops.pipelines.spec import load_spec

    spec = load_spec(tags[recording.SPEC_TAG])
    changes = []
    for rec in pstore.steps_of(original.id):
        if rec["step"] in spec.steps and rec["fingerprint"].get("code"):
            changes += _code_diff(rec, read_notebook(spec.steps[rec["step"]].notebook))
    params = {k: v for k, v in original.params.items() if k in spec.params}
    pr = run_pipeline(spec, params=params, force=True, progress=progress,
                      tags={"nbmlops.reproduce.of": original.id})
    failed = [f"{o.name}: {o.error or o.reason}" for o in pr.failed]
    return Reproduction(original.id, pr.run_id, code_changes=changes,
                        error="; ".join(failed) or None)


def _code_diff(record: dict[str, Any], info: Any) -> list[str]:
    from nbmlops.pipelines.cache import _code_changes

    now = [list(c) for c in info.cells]
    return [f"{record['step']}: {c}" for c in _code_changes(record["fingerprint"]["code"], now)]


def _rerun_notebook(original: Any, tags: dict[str, str], pstore: Any) -> Reproduction:
    from nbmlops.pipelines.notebooks import read_notebook
    from nbmlops.tracking.api import start_run

    notebook = Path(original.info.notebook_path)
    if not notebook.is_file():
        raise PipelineError(f"run {original.id} was made by {notebook}, which no longer exists")
    info = read_notebook(notebook)
    record = pstore.step_record(original.id)
    changes = _code_diff(record, info) if record and record["fingerprint"] else \
        _source_change(original, notebook)
    params = {k: v for k, v in original.params.items() if k in (info.parameters or {})}
    cwd = Path(tags[recording.SPEC_TAG]).parent if recording.SPEC_TAG in tags else notebook.parent
    new = start_run(f"reproduce-{original.name}"[:250], experiment=original.experiment,
                    params=params, tags={"nbmlops.reproduce.of": original.id},
                    notebook_path=str(notebook))
    error = _execute(new.id, notebook, params, cwd)
    new.end("FAILED" if error else "FINISHED", error)
    return Reproduction(original.id, new.id, code_changes=changes, error=error,
                        source=f"the notebook {notebook}")


def _session_of(run: Any, depth: int = 5) -> dict[str, Any] | None:
    """Return the kernel history recorded with ``run``, or with the top-level run it is in."""
    from nbmlops.tracking.api import get_run
    from nbmlops.tracking.session import load_session

    session = load_session(run)
    parent = run.info.parent_run_id
    if session is None and parent and depth > 0:
        return _session_of(get_run(parent), depth - 1)
    return session


def _rerun_session(original: Any, session: dict[str, Any]) -> Reproduction:
    """Replay the recorded kernel history (up to the run's cell) in a fresh kernel."""
    import tempfile

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from nbmlops.tracking.api import start_run

    cells = session["cells"]
    cwd = Path(session.get("cwd") or ".")
    if not cwd.is_dir():
        raise PipelineError(f"run {original.id} was made in {cwd}, which no longer exists; "
                            "its kernel history replays there")
    new = start_run(f"reproduce-{original.name}"[:250], experiment=original.experiment,
                    tags={"nbmlops.reproduce.of": original.id}, capture=False)
    folder = Path(tempfile.mkdtemp(prefix="nbmlops-replay-"))
    notebook = folder / f"replay-{original.id[:8]}.ipynb"
    replay = [new_code_cell(c) for c in cells]
    for cell in replay[:-1]:  # an interactive session's failed cells did not stop it either
        cell.metadata["tags"] = ["raises-exception"]
    nbformat.write(new_notebook(cells=replay), str(notebook))
    error = _execute(new.id, notebook, {}, cwd, only_last_cell=True)
    new.end("FAILED" if error else "FINISHED", error)
    papermill = session.get("papermill")
    how = f", papermill parameters {papermill}" if papermill is not None else ""
    return Reproduction(original.id, new.id, error=error,
                        source=f"the kernel history recorded with the run ({len(cells)} "
                               f"cells, run in {cwd}{how})")


def _source_change(original: Any, notebook: Path) -> list[str]:
    source = (original.source or "").strip()
    if not source:
        return []
    import json

    cells = json.loads(notebook.read_text())["cells"]
    body = source.split("\n", 1)[1].strip() if source.startswith("%%") else source
    if any(body and body in "".join(c.get("source", "")) for c in cells):
        return []
    return [f"the cell that made run {original.id[:8]} is no longer in {notebook.name} as "
            "recorded"]


def _execute(run_id: str, notebook: Path, params: dict[str, Any], cwd: Path, *,
             only_last_cell: bool = False) -> str | None:
    """Execute ``notebook`` in a fresh kernel; return what failed, or None.

    With ``only_last_cell``, errors of earlier cells (a replayed session's failed cells,
    tagged ``raises-exception``) do not count: only the run's own, last, cell does.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.pipelines.executors import StepTask, execute_step

    settings = resolve_settings()
    out = recording.executed_path(settings.home, "reproduce", run_id, notebook.stem)
    env = {"NBMLOPS_PARENT_RUN_ID": run_id, "NBMLOPS_NOTEBOOK_PATH": str(notebook),
           "NBMLOPS_HOME": str(settings.home), "NBMLOPS_STORE_URL": settings.store_url,
           "NBMLOPS_ARTIFACT_URL": settings.artifact_url}
    from nbmlops.pipelines.notebooks import read_notebook

    kernel, python = read_notebook(notebook).kernel, None
    if kernel is None:  # a replayed history, or a notebook written without a kernelspec
        kernel, python = "python3", sys.executable
    result = execute_step(StepTask("reproduce", str(notebook), str(out), params, str(cwd), env,
                                   kernel, None, python))
    if result.ok or (only_last_cell and not result.timed_out and not _last_cell_failed(out)):
        return None
    return f"cell {result.cell_index}: {result.ename}: {result.evalue} (see {out})"


def _last_cell_failed(executed: Path) -> bool:
    """Return whether the last code cell of an executed notebook has an error output."""
    import json

    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return True
    code = [c for c in cells if c.get("cell_type") == "code"]
    outputs = code[-1].get("outputs", []) if code else []
    return not code or any(o.get("output_type") == "error" for o in outputs) or \
        code[-1].get("execution_count") is None


def environment_changes(original: Any) -> list[str]:
    """Return what differs between the run's recorded environment and this one."""
    from nbmlops.tracking.capture import capture_environment, git_state

    old = original.environment
    changes: list[str] = []
    if old:
        _, now = capture_environment()
        if old.get("python_version") != now.get("python_version"):
            changes.append(f"python {old.get('python_version')} → {now.get('python_version')}")
        a, b = old.get("packages", {}), now.get("packages", {})
        diffs = [f"{p} {a.get(p, 'absent')} → {b.get(p, 'absent')}"
                 for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
        changes += diffs[:15] + ([f"and {len(diffs) - 15} more packages"] if len(diffs) > 15
                                 else [])
    folder = Path(original.info.notebook_path).parent if original.info.notebook_path else None
    commit, _ = git_state(folder if folder and folder.is_dir() else None)
    if original.info.git_commit and commit and commit != original.info.git_commit:
        changes.append(f"git commit {original.info.git_commit[:10]} → {commit[:10]}")
    return changes


def _store(result: Reproduction, original: Any) -> None:
    from nbmlops.tracking.api import get_run

    new = get_run(result.new_run_id)
    new.log_artifact(result.to_dict(), "reproduction.json")
    verdict = "match" if result.ok else "mismatch"
    new.set_tags({"nbmlops.reproduce.of": original.id, "nbmlops.reproduce.result": verdict})
    original.set_tags({"nbmlops.reproduce.last": f"{result.new_run_id} {verdict}"})
