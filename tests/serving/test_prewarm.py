"""The warm host started before the first deploy (issue 15): registering a model in an
interactive session starts it at idle priority, the first deploy uses it, and
``NBMLOPS_PREWARM=0`` keeps it off. Real processes; scheduling policies read from Linux."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require, wait_until
from tests.serving.conftest import register

IDLE = getattr(os, "SCHED_IDLE", None)


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture
def no_warm_host() -> Iterator[Any]:
    """Start and end the test without a warm host in this process."""
    from nbmlops.serving import deployments

    require(IDLE is not None and hasattr(os, "fork"), "Linux scheduling policies")
    deployments._stop_warm_host()
    yield deployments
    deployments._stop_warm_host()


def test_registering_in_a_notebook_session_prestarts_the_host_and_deploy_uses_it(
        no_warm_host: Any, ip: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    import nbmlops

    assert no_warm_host._warm is None
    register("pre", LogisticRegression(max_iter=500))  # ip: an IPython session is running
    host = no_warm_host._warm
    assert host is not None and host.poll() is None
    assert os.sched_getscheduler(host.pid) == IDLE
    dep = nbmlops.deploy("pre@production")
    try:
        assert no_warm_host._warm is host  # the same host, now needed: normal priority
        assert os.sched_getscheduler(host.pid) == os.SCHED_OTHER
        assert _ppid(dep.pid) == host.pid  # the server was forked from it
        assert os.sched_getscheduler(dep.pid) == os.SCHED_OTHER
        assert set(dep.timings) >= {"start", "load", "ready"}
    finally:
        dep.stop()


def test_prewarm_is_off_outside_interactive_sessions_and_with_prewarm_0(
        no_warm_host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from sklearn.linear_model import LogisticRegression

    import nbmlops

    if InteractiveShell.initialized():  # an earlier test's shell would count as a session
        InteractiveShell.clear_instance()
    register("batch", LogisticRegression(max_iter=500))  # a script: nothing started
    assert no_warm_host._warm is None
    InteractiveShell.instance()  # a kernel, but running a pipeline step: nothing either
    with monkeypatch.context() as mp:
        mp.setenv("NBMLOPS_PARENT_RUN_ID", nbmlops.last_run().id)
        register("step", LogisticRegression(max_iter=500))
    assert no_warm_host._warm is None
    InteractiveShell.clear_instance()
    monkeypatch.setenv("NBMLOPS_PREWARM", "0")
    assert no_warm_host.prestart_warm_host() is False and no_warm_host._warm is None
    monkeypatch.setenv("NBMLOPS_PREWARM", "1")
    monkeypatch.setenv("NBMLOPS_WARM_HOST", "0")
    assert no_warm_host.prestart_warm_host() is False and no_warm_host._warm is None


def test_a_prestarted_host_dies_with_its_stop_even_while_importing(no_warm_host: Any) -> None:
    assert no_warm_host.prestart_warm_host() is True
    host = no_warm_host._warm
    assert no_warm_host.prestart_warm_host() is True and no_warm_host._warm is host  # idempotent
    no_warm_host._stop_warm_host()
    wait_until(lambda: host.poll() is not None, "the idle warm host to exit", timeout=10)
