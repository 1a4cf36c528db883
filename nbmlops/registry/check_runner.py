"""Run checks: a notebook cell (``%%modeltest``) or a whole checks notebook (papermill).

Plain ``assert`` statements count as checks: while a suite runs in an IPython shell,
top-level asserts are rewritten so a failing one is recorded and the cell goes on.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError
from nbmlops.registry import checks

if TYPE_CHECKING:
    from nbmlops.registry.checks import CheckSuite

ASSERT_HOOK = "__nbmlops_assert__"
#: names bound in a %%modeltest cell (their previous values come back afterwards)
HELPERS = ("check", "check_metric", "check_no_regression", "check_latency", "check_invariance",
           "check_slices")


class AssertToCheck(ast.NodeTransformer):
    """Rewrite ``assert test, msg`` outside functions into a recorded check."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        """Leave functions defined in the cell as they are."""
        return node  # asserts inside functions are the user's own logic

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        """Leave async functions defined in the cell as they are."""
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        """Leave classes defined in the cell as they are."""
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        """Turn a top-level ``assert`` into a recorded check."""
        msg: ast.expr = ast.Constant(None)
        if node.msg is not None:
            msg = ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                kw_defaults=[], defaults=[]), body=node.msg)
        call = ast.Call(func=ast.Name(ASSERT_HOOK, ast.Load()),
                        args=[node.test, ast.Constant(ast.unparse(node.test)), msg],
                        keywords=[])
        return ast.copy_location(ast.Expr(call), node)


def run_check_cell(shell: Any, ref: str, cell: str, **load_options: Any) -> CheckSuite:
    """Run ``cell`` as the checks of ``ref`` and store them; return the stored suite.

    The cell sees ``model``, ``model_version`` and the check helpers; unless the cell
    rebinds them, names that had values get them back, and ``model``/``model_version``
    are removed again. A cell that raises records a failed check.
    """
    ns = shell.user_ns
    suite = checks.start(ref, **load_options)
    injected = {"model": suite.model, "model_version": suite.version,
                **{h: getattr(checks, h) for h in HELPERS}}
    saved = {k: ns[k] for k in injected if k in ns}
    install_assert_hook(shell, suite)
    # the suite's table is the cell's output: not also the last check's repr
    interactivity = getattr(shell, "ast_node_interactivity", None)
    try:
        ns.update(injected)
        if interactivity is not None:
            shell.ast_node_interactivity = "none"
        result = shell.run_cell(cell, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            suite.record_error(error)
    except BaseException:
        checks.abort()
        raise
    finally:
        if interactivity is not None:
            shell.ast_node_interactivity = interactivity
        for k, value in injected.items():
            if ns.get(k) is not value:
                continue  # the cell rebound it: keep the new value
            if k in saved:
                ns[k] = saved[k]
            elif k not in HELPERS:  # helpers stay importable-looking; they need a suite
                ns.pop(k)
    if not suite.results:
        checks.abort()
        raise ValidationError(
            f"the cell ran no checks against {suite.version.ref}: use check_* helpers from "
            "nbmlops.checks or plain assert statements; nothing was stored"
        )
    checks.finish()
    return suite


def install_assert_hook(shell: Any, suite: CheckSuite) -> None:
    """Make top-level asserts in later cells of ``shell`` record into ``suite``."""
    shell.user_ns[ASSERT_HOOK] = suite.record_assert
    if not any(isinstance(t, AssertToCheck) for t in shell.ast_transformers):
        shell.ast_transformers.append(AssertToCheck())


def remove_assert_hook(shell: Any) -> None:
    """Give ``assert`` its usual meaning back in ``shell``."""
    shell.ast_transformers[:] = [t for t in shell.ast_transformers
                                 if not isinstance(t, AssertToCheck)]
    shell.user_ns.pop(ASSERT_HOOK, None)


def _names_kernel(notebook: Path) -> bool:
    """Return whether a notebook names its kernel (nbformat- or jupytext-written ones may not).

    papermill refuses one that does not ("No kernel name found"); such a notebook runs on
    ``python3``, the current Python's ipykernel, as pipeline steps do.
    """
    import json

    try:
        meta = json.loads(notebook.read_text()).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return True  # let papermill report what is wrong with the file
    return bool((meta.get("kernelspec") or {}).get("name"))


def run_checks_notebook(ref: str, notebook: str | Path, *, output: str | Path | None = None,
                        parameters: dict[str, Any] | None = None,
                        timeout: int = 600) -> list[dict[str, Any]]:
    """Execute a checks notebook with papermill against ``ref`` and return the stored results.

    The notebook receives ``model_ref`` (pinned to ``name/version``) as a parameter, calls
    ``nbmlops.checks.start(model_ref)`` and ``finish()``. If a cell fails, a failed check
    naming the cell and error is added to the same batch, so the version cannot be
    promoted on a half-run notebook.
    """
    import uuid

    import papermill as pm

    from nbmlops.config import resolve_settings
    from nbmlops.registry.versions import _registry, get_model_version

    mv = get_model_version(ref)
    path = Path(notebook)
    if not path.is_file():
        raise ValidationError(f"checks notebook {str(path)!r} does not exist")
    batch = uuid.uuid4().hex
    settings = resolve_settings()
    env = {checks.BATCH_ENV: batch, "NBMLOPS_STORE_URL": settings.store_url,
           "NBMLOPS_ARTIFACT_URL": settings.artifact_url, "NBMLOPS_HOME": str(settings.home)}
    tmp = None
    if output is None:
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="nbmlops-checks-")
        output = Path(tmp.name) / f"{path.stem}.out.ipynb"
    params = {"model_ref": mv.ref, **(parameters or {})}
    old = {k: os.environ.get(k) for k in env}
    error: str | None = None
    try:
        os.environ.update(env)
        pm.execute_notebook(str(path), str(output), parameters=params, cwd=str(path.parent),
                            progress_bar=False, execution_timeout=timeout,
                            **({} if _names_kernel(path) else
                               {"kernel_name": "python3", "language": "python"}))
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if tmp is not None:
            tmp.cleanup()
    reg, _ = _registry()
    if error is not None:
        reg.add_check_results(mv.name, mv.version, batch, [
            {"check": f"notebook {path.name}", "passed": False, "detail": error}])
    stored = [r for r in reg.latest_checks(mv.name, mv.version) if r["batch_id"] == batch]
    if not stored:
        raise ValidationError(
            f"{path.name} ran but stored no checks for {mv.ref}: it must call "
            "nbmlops.checks.start(model_ref) and nbmlops.checks.finish()"
        )
    return stored
