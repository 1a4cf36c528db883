"""%pipeline and %reproduce in a real InteractiveShell."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell


def test_pipeline_magic_runs_and_validates(ip: InteractiveShell, misc: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = misc / "parallel.yaml"
    ip.run_line_magic("pipeline", f"validate {spec}")
    assert "pipeline parallel: 3 steps, valid (left → right → join)" in capsys.readouterr().out
    result = ip.run_line_magic("pipeline", f"run {spec} --only left")
    assert {n: s.status for n, s in result.steps.items()} == {
        "left": "ran", "right": "skipped", "join": "skipped"}
    assert result.steps["right"].reason == "not selected by --only"


def test_pipeline_magic_errors_are_one_line(ip: InteractiveShell, misc: Path) -> None:
    with pytest.raises(UsageError, match="--only names unknown step"):
        ip.run_line_magic("pipeline", f"run {misc / 'parallel.yaml'} --only nope")
    with pytest.raises(UsageError, match="required: run_id"):
        ip.run_line_magic("reproduce", "")
    with pytest.raises(UsageError, match="argument --rtol: 'x' is not a number"):
        ip.run_line_magic("reproduce", "abc --rtol x")
    with pytest.raises(UsageError, match="argument --atol: 'nan' must be a finite number"):
        ip.run_line_magic("reproduce", "abc --atol nan")
    with pytest.raises(UsageError, match="run 'abcdef123456' not found; no run id starts"):
        ip.run_line_magic("reproduce", "abcdef123456")
    with pytest.raises(UsageError, match="run id prefix 'abc' is too short"):
        ip.run_line_magic("reproduce", "abc")
