"""``nbmlops.resolve_run``: one rule for run references, used by the CLI, magics and registry."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest

import nbmlops
from nbmlops.cli import main
from nbmlops.errors import RunNotFound, ValidationError
from tests.magics.conftest import run


def _ids(monkeypatch: pytest.MonkeyPatch, *ids: str) -> None:
    """Make the next runs get these ids (so two can share a prefix)."""
    queue = [uuid.UUID(hex=i) for i in ids]
    real = uuid.uuid4

    def uuid4() -> uuid.UUID:
        if queue and sys._getframe(1).f_code.co_name == "start_run":
            return queue.pop(0)
        return real()

    monkeypatch.setattr(uuid, "uuid4", uuid4)


def test_full_id_prefix_last_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    _ids(monkeypatch, "abcdef01" + "0" * 24, "abcdef02" + "0" * 24, "1234567890" + "0" * 22)
    with nbmlops.start_run("a") as a:
        pass
    with nbmlops.start_run("b") as b:
        with nbmlops.start_run("child") as child:  # nested in b
            assert nbmlops.resolve_run("last").id == child.id  # the active run
    assert nbmlops.last_run().id == b.id  # the newest top-level run, not its child
    assert nbmlops.resolve_run(a.id).id == a.id
    assert nbmlops.resolve_run("ABCDEF01").id == a.id  # case-insensitive prefix
    assert nbmlops.resolve_run("123456").id == child.id  # nested runs too
    assert nbmlops.resolve_run("last").id == nbmlops.last_run().id  # no active run
    assert nbmlops.resolve_run(None).id == nbmlops.last_run().id
    assert nbmlops.resolve_run(a) is a


@pytest.mark.parametrize(
    ("ref", "error", "match"),
    [
        ("abcdef", ValidationError, r"'abcdef' matches several runs"),
        ("abc", ValidationError, r"'abc' is too short; give at least 6"),
        ("ffffff", RunNotFound, r"'ffffff' not found.*no run id starts with it"),
        ("my-run", RunNotFound, r"'my-run' not found.*32 hexadecimal"),
        ("", RunNotFound, r"not found.*32 hexadecimal"),
    ],
)
def test_bad_references_name_the_value(monkeypatch: pytest.MonkeyPatch, ref: str,
                                       error: type[Exception], match: str) -> None:
    _ids(monkeypatch, "abcdef01" + "0" * 24, "abcdef02" + "0" * 24)
    for name in ("a", "b"):
        with nbmlops.start_run(name):
            pass
    before = nbmlops.runs()
    with pytest.raises(error, match=match):
        nbmlops.resolve_run(ref)
    assert nbmlops.runs().equals(before)


def test_cli_magic_and_registry_accept_a_prefix(
    ip: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    run(ip, "from sklearn.linear_model import LogisticRegression\n"
            "model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])\n")
    run(ip, "%%track fit\nmodel = LogisticRegression().fit([[0.0], [1.0]], [0, 1])\n")
    with nbmlops.start_run("later"):
        pass
    target = nbmlops.runs(filter="name = 'fit'")["run_id"][0]
    mv = run(ip, f"%register churn --run {target[:8]}")
    assert mv.run_id == target
    assert nbmlops.register_model("churn", run=target[:10]).run_id == target
    assert main(["runs", "show", target[:7], "--format", "json"]) in (0, None)
    assert target in capsys.readouterr().out
    assert nbmlops.diff_runs(target[:6], "last").b_name == "later"


def test_last_inside_a_pipeline_step_is_the_steps_newest_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner sets NBMLOPS_PARENT_RUN_ID: a step's "last" is its own newest run."""
    with nbmlops.start_run("pipeline") as pipe:
        pass
    with nbmlops.start_run("outside-later"):
        pass
    monkeypatch.setenv("NBMLOPS_PARENT_RUN_ID", pipe.id)
    with nbmlops.start_run("train") as train:  # nested under the step's parent by the env
        with nbmlops.start_run("fold-1"):
            pass
    assert train.info.parent_run_id == pipe.id
    assert nbmlops.last_run().id == train.id
    monkeypatch.delenv("NBMLOPS_PARENT_RUN_ID")
    assert nbmlops.last_run().name == "outside-later"
