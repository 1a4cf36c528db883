"""A trailing ``# comment`` on any nbmlops magic line is ignored, as Python would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from nbmlops.magics._ipython import strip_comment
from tests.magics.conftest import run

PIPELINE = Path(__file__).resolve().parents[2] / "example_notebooks" / "pipeline" / "pipeline.yaml"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("churn --run last --alias staging  # version 1, 2, …", "churn --run last --alias staging"),
        ("params.tag = 'a # b'  # c", "params.tag = 'a # b'"),
        ('-t note="x # y"', '-t note="x # y"'),
        ("-t note=run#2", "-t note=run#2"),
        (r"a \# b # c", r"a \# b"),
        ("# only a comment", ""),
        ("plain", "plain"),
    ],
)
def test_strip_comment_outside_quotes(line: str, expected: str) -> None:
    assert strip_comment(line) == expected


def test_every_magic_ignores_a_trailing_comment(ip: Any) -> None:
    import nbmlops

    run(ip, "from sklearn.linear_model import LogisticRegression\n"
            "from sklearn.metrics import accuracy_score\n"
            "import pandas as pd\n"
            "X = pd.DataFrame({'a': [0.0, 1, 2, 3, 4, 5], 'b': [1.0, 0, 1, 0, 1, 0]})\n"
            "y = [0, 0, 0, 1, 1, 1]\n")
    run(ip, "%%track rf --params C --metrics acc -t note='a # b'  # first try\n"
            "C = 1.0\nmodel = LogisticRegression(C=C).fit(X, y)\nacc = model.score(X, y)\n")
    tracked = nbmlops.runs()
    assert tracked["name"].tolist() == ["rf"] and tracked["params.C"].tolist() == [1.0]
    assert nbmlops.get_run(tracked["run_id"][0]).tags["note"] == "a # b"
    assert len(run(ip, "%runs -n 1  # the newest")) == 1
    assert len(run(ip, "%runs params.C = 1.0  # a filter, then a comment")) == 1
    run(ip, "%nbmlops  # where is the store")
    mv = run(ip, "%register churn --run last --alias staging  # version 1, 2, …")
    assert (mv.version, nbmlops.get_model_version("churn@staging").version) == (1, 1)
    run(ip, "%%modeltest churn@staging --promote-to production  # the gate\n"
            "check_metric('acc', accuracy_score, X, y, min=0.5)\n")
    assert nbmlops.get_model_version("churn@production").version == 1
    run(ip, "%promote churn/1 canary  # also behind the checks")
    assert nbmlops.get_model_version("churn@canary").version == 1
    assert len(run(ip, "%deploy --list  # nothing runs")) == 0
    run(ip, f"%pipeline validate {PIPELINE}  # check the spec only")
    with pytest.raises(UsageError, match="nosuchrun") as info:
        run(ip, "%reproduce nosuchrun  # a comment, not arguments")
    assert "usage" not in str(info.value)
