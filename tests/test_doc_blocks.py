"""Every code block of README.md and docs/ runs as a reader would run it (issue 18).

One case per page: its Python blocks run in order as the cells of ONE real Jupyter kernel
(so magics work), its shell blocks with bash in between, all in a fresh folder holding a
copy of ``example_notebooks/`` (the repository files pages name) with a fresh store. A
block that needs a service the tests cannot start is marked
``<!-- docs-test: skip (REASON) -->``; those are counted here. See tests/_doc_blocks.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests._doc_blocks import ROOT, Block, blocks, page_id, pages
from tests.conftest import require

ALL_PAGES = pages()
RUN_PAGES = [p for p in ALL_PAGES if any(b.runnable and not b.skip for b in blocks(p))]
#: Raise this only for a block that truly needs an outside service; say which in its marker.
MAX_SKIPPED = 9
BLOCK_TIMEOUT = 240


def _kernel_available() -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return "python3" in KernelSpecManager().find_kernel_specs()


def test_every_fence_says_what_it_holds() -> None:
    """A fence without a known language could hide code that is never run."""
    unknown = [f"{b.where} ({b.lang or 'no language'})"
               for p in ALL_PAGES for b in blocks(p) if b.kind == "unknown"]
    assert not unknown, ("label these fences: python/bash/console blocks run; text, json, "
                         "yaml, toml, http ... do not: " + ", ".join(unknown))


def test_skipped_blocks_are_marked_with_a_reason_and_few() -> None:
    skipped = [b for p in ALL_PAGES for b in blocks(p) if b.skip]
    not_code = [b.where for b in skipped if not b.runnable]
    assert not not_code, f"skip markers above blocks that never run: {not_code}"
    assert all(len(b.skip or "") >= 8 for b in skipped)
    listing = "\n".join(f"{b.where}: {b.skip}" for b in skipped)
    assert len(skipped) <= MAX_SKIPPED, f"{len(skipped)} blocks skipped:\n{listing}"


def test_every_runnable_block_is_run_or_marked() -> None:
    """Each unmarked python/shell block belongs to a page that a test case runs."""
    runnable = {b.where for p in ALL_PAGES for b in blocks(p) if b.runnable and not b.skip}
    planned = {b.where for p in RUN_PAGES for b in _todo(p)}
    assert runnable == planned
    assert len(runnable) > 40


def _todo(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.runnable and not b.skip]


@pytest.mark.kernel
@pytest.mark.parametrize("page", RUN_PAGES, ids=page_id)
def test_page_blocks_run(page: Path, tmp_path: Path, nbmlops_home: Path) -> None:
    todo = _todo(page)
    if any(b.kind == "python" for b in todo):
        require(_kernel_available(), "no python3 Jupyter kernel installed")
    shutil.copytree(ROOT / "example_notebooks", tmp_path / "example_notebooks",
                    ignore=shutil.ignore_patterns("out", ".nbmlops", "data", "*.skops"))
    env = _env(nbmlops_home)
    try:
        executed = _run(todo, tmp_path, env)
    finally:
        _stop_deployments(nbmlops_home)
    assert executed == [b.line for b in todo]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    venv_bin = str(Path(sys.executable).parent)
    env.update(NBMLOPS_HOME=str(home), PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _run(todo: list[Block], cwd: Path, env: dict[str, str]) -> list[int]:
    """Run the blocks in order; return the lines of those that ran (all, or fail)."""
    executed: list[int] = []
    with ExitStack() as stack:
        kernel: Any = None
        for block in todo:
            if block.kind == "python":
                kernel = kernel or _start_kernel(stack, cwd, env)
                _run_cell(kernel, block)
            else:
                _run_shell(block, cwd, env)
            executed.append(block.line)
    return executed


def _start_kernel(stack: ExitStack, cwd: Path, env: dict[str, str]) -> Any:
    import nbformat
    from nbclient import NotebookClient

    client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3",
                            timeout=BLOCK_TIMEOUT, startup_timeout=120,
                            resources={"metadata": {"path": str(cwd)}})
    stack.enter_context(client.setup_kernel(env=env))
    return client


def _run_cell(client: Any, block: Block) -> None:
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    cell = nbformat.v4.new_code_cell(block.code.rstrip("\n"))
    client.nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(client.nb.cells) - 1)
    except (CellExecutionError, CellTimeoutError) as exc:
        pytest.fail(f"{block.where}: the python block failed:\n{block.code}\n{exc}",
                    pytrace=False)
    stderr = "".join(o.get("text", "") for o in cell.outputs
                     if o.get("output_type") == "stream" and o.get("name") == "stderr")
    if "Traceback" in stderr or "Warning" in stderr:
        pytest.fail(f"{block.where}: the python block wrote to stderr:\n{block.code}\n"
                    f"{stderr[-3000:]}", pytrace=False)


def _run_shell(block: Block, cwd: Path, env: dict[str, str]) -> None:
    script = block.script()
    # its own process group: on a timeout, whatever the block started goes too
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{block.where}: the shell block ran over {BLOCK_TIMEOUT} s:\n{script}",
                    pytrace=False)
    finally:
        try:  # a block's leftover background processes (none should remain)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        pytest.fail(f"{block.where}: the shell block exited {proc.returncode}:\n{script}\n"
                    f"--- stdout\n{out[-2000:]}\n--- stderr\n{err[-3000:]}",
                    pytrace=False)


def _stop_deployments(home: Path) -> None:
    """Stop every server the page started (deploy blocks stop theirs; a failure may not)."""
    if not (home / "nbmlops.db").exists():
        return
    from nbmlops import store
    from nbmlops.serving.deployments import list_deployments

    store.reset()
    for dep in list_deployments():
        dep.stop()
    store.reset()
