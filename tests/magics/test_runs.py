"""``%runs``, ``%nbmlops`` and what ``%load_ext nbmlops`` costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from nbmlops.magics.runs import StatusTable, parse_runs_line
from tests.magics.conftest import run


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", (None, None, None)),
        ("metrics.acc > 0.9", (None, None, "metrics.acc > 0.9")),
        ("-e churn -n 5 params.model = 'rf'", ("churn", 5, "params.model = 'rf'")),
        ("--experiment=churn --max=2", ("churn", 2, None)),
    ],
)
def test_parse_runs_line_keeps_the_filter_verbatim(line: str, expected: tuple[Any, ...]) -> None:
    assert parse_runs_line(line) == expected


def test_runs_shows_the_table_filtered_in_sql(ip: Any) -> None:
    run(ip, "%%track rf --params model --metrics acc\nmodel = 'rf'\nacc = 0.95\n")
    run(ip, "%%track lr -e other --params model --metrics acc\nmodel = 'lr'\nacc = 0.7\n")
    everything = run(ip, "%runs")
    assert everything["name"].tolist() == ["lr", "rf"]  # newest first
    assert run(ip, "%runs metrics.acc > 0.9")["name"].tolist() == ["rf"]
    assert run(ip, "%runs params.model = 'lr'")["name"].tolist() == ["lr"]
    assert run(ip, "%runs -e other")["name"].tolist() == ["lr"]
    assert len(run(ip, "%runs -n 1")) == 1


@pytest.mark.parametrize(("line", "message"), [
    ("metrics.acc >", "bad filter"),
    ("nope.acc > 1", "bad filter"),
    ("-n many", "takes a number of runs"),
])
def test_runs_bad_input_is_one_line(ip: Any, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("runs", line)


def test_nbmlops_shows_store_and_settings(ip: Any, nbmlops_home: Path) -> None:
    run(ip, "%%track first\nx = 1\n")
    info = run(ip, "%nbmlops")
    assert isinstance(info, StatusTable)
    rows = dict(info.rows)
    assert rows["home"] == str(nbmlops_home)
    assert rows["metadata store"] == f"sqlite:///{nbmlops_home / 'nbmlops.db'}"
    assert rows["store chosen by"] == "NBMLOPS_HOME"
    assert rows["runs"] == "1"
    assert rows["experiments"] == "1"
    assert rows["models"] == "0 (0 versions)"
    assert "<table" in info._repr_html_() and str(nbmlops_home) in repr(info)
    with pytest.raises(UsageError, match="takes no arguments"):
        ip.run_line_magic("nbmlops", "extra")


LOAD_EXT = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t0 = time.perf_counter()
ip.run_line_magic("load_ext", "nbmlops")
elapsed = time.perf_counter() - t0
heavy = sorted(m for m in ("pandas", "sklearn", "sqlalchemy", "numpy", "skops", "papermill")
               if m in sys.modules)
print(json.dumps({"heavy": heavy, "magics": sorted(ip.magics_manager.magics["cell"]),
                  "line": sorted(ip.magics_manager.magics["line"]), "seconds": elapsed}))
"""


def test_load_ext_imports_nothing_heavy(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", LOAD_EXT], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert "track" in report["magics"]
    assert {"runs", "nbmlops"} <= set(report["line"])


def test_every_listed_magics_class_registers(ip: Any) -> None:
    from nbmlops.magics import MAGICS

    assert MAGICS[:2] == ["nbmlops.magics.track:TrackMagics", "nbmlops.magics.runs:RunsMagics"]
    assert ip.find_cell_magic("track") is not None
    assert ip.find_line_magic("runs") is not None
