"""The ``nbmlops runs`` commands, through the real console script in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nbmlops
from nbmlops._version import __version__


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nbmlops ARGS`` with the test's NBMLOPS_HOME."""
    return subprocess.run([sys.executable, "-m", "nbmlops", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


@pytest.fixture
def two_runs() -> dict[str, str]:
    ids = {}
    for name, model, acc in [("rf-run", "rf", 0.91), ("lr-run", "lr", 0.72)]:
        with nbmlops.start_run(name, params={"model": model}, tags={"team": "ml"},
                               source="model.fit(X, y)") as run:
            nbmlops.log_metric("acc", acc)
            nbmlops.log_artifact("notes", name="notes.txt")
            nbmlops.log_dataset(np.arange(4.0), "X")
        ids[name] = run.id
    with nbmlops.start_run("nan-run", experiment="other") as run:
        nbmlops.log_metric("acc", float("nan"))
    ids["nan-run"] = run.id
    return ids


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"nbmlops, version {__version__}"


def test_console_script_installed() -> None:
    script = Path(sys.executable).with_name("nbmlops")
    proc = subprocess.run([str(script), "runs", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "list" in proc.stdout and "show" in proc.stdout


def test_list_table(two_runs: dict[str, str]) -> None:
    proc = cli("runs", "list")
    assert proc.returncode == 0, proc.stderr
    header, rule, *rows = proc.stdout.splitlines()
    assert header.split() == ["run_id", "name", "experiment", "status", "start_time",
                              "duration", "params.model", "metrics.acc"]
    assert set(rule) == {"-", " "}
    assert [r.split()[1] for r in rows] == ["nan-run", "lr-run", "rf-run"]
    assert "0.91" in rows[2] and "nan" in rows[0]


def test_list_table_missing_param_is_blank(two_runs: dict[str, str]) -> None:
    header, _, *rows = cli("runs", "list").stdout.splitlines()
    start, end = header.index("params.model"), header.index("metrics.acc")
    assert [r[start:end].strip() for r in rows] == ["", "lr", "rf"]
    assert rows[0][end:].strip() == "nan"  # a metric logged as NaN still reads nan


def test_list_json_filter_order(two_runs: dict[str, str]) -> None:
    proc = cli("runs", "list", "--experiment", "default", "--order-by", "metrics.acc DESC",
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [r["run_id"] for r in data] == [two_runs["rf-run"], two_runs["lr-run"]]
    assert data[0]["params.model"] == "rf" and data[0]["metrics.acc"] == 0.91
    assert data[0]["status"] == "FINISHED" and data[0]["start_time"].endswith("+00:00")
    proc = cli("runs", "list", "--filter", "metrics.acc < 0.8 and params.model = 'lr'",
               "--format", "json")
    assert [r["name"] for r in json.loads(proc.stdout)] == ["lr-run"]
    nan = json.loads(cli("runs", "list", "-e", "other", "--format", "json").stdout)
    assert nan[0]["metrics.acc"] is None  # NaN is not valid JSON: null


def test_list_csv_max_results(two_runs: dict[str, str]) -> None:
    proc = cli("runs", "list", "--format", "csv", "--max-results", "1", "-e", "default")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 1 and rows[0]["name"] == "lr-run" and rows[0]["metrics.acc"] == "0.72"


def test_list_empty() -> None:
    proc = cli("runs", "list")
    assert proc.returncode == 0 and proc.stdout.strip() == "no runs recorded yet"


@pytest.mark.parametrize(("args", "message"), [
    (["--filter", "metrics.acc >"], "Error: bad filter 'metrics.acc >' at position 13"),
    (["--filter", "colour = 'red'"], "unknown column 'colour'"),
    (["--filter", "metrics.f1 > 1"], "unknown metric 'f1'; known metrics: acc"),
    (["--order-by", "metrics.acc SIDEWAYS"], "order_by items look like"),
    (["--format", "xml"], "Invalid value for '--format'"),
    (["--max-results", "-1"], "Invalid value for '--max-results'"),
])
def test_list_errors_one_line(two_runs: dict[str, str], args: list[str], message: str) -> None:
    proc = cli("runs", "list", *args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    if not message.startswith("Invalid value"):
        assert len(proc.stderr.strip().splitlines()) == 1


def test_show(two_runs: dict[str, str]) -> None:
    run_id = two_runs["rf-run"]
    proc = cli("runs", "show", run_id)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0] == f"run {run_id}  rf-run  [FINISHED]"
    for part in ("params:\n  model  rf", "metrics:\n  acc  0.91", "tags:\n  team  ml",
                 "notes.txt  text/plain  5 bytes", "X (input)  ndarray (4,)",
                 "environment:\n  python ", "provenance:\n  unknown", "git: ",
                 "source:\n  | model.fit(X, y)"):
        assert part in out, part


def test_show_json_prefix_and_last(two_runs: dict[str, str]) -> None:
    run_id = two_runs["lr-run"]
    data = json.loads(cli("runs", "show", run_id[:8], "--format", "json").stdout)
    assert data["run_id"] == run_id and data["params"] == {"model": "lr"}
    assert data["metrics"] == {"acc": 0.72} and data["artifacts"][0]["name"] == "notes.txt"
    assert data["environment"]["python"].count(".") == 2
    assert data["datasets"][0]["fingerprint"]
    last = json.loads(cli("runs", "show", "last", "--format", "json").stdout)
    assert last["run_id"] == two_runs["nan-run"] and last["metrics"] == {"acc": None}


def test_show_failed_run_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError), nbmlops.start_run("bad") as run:
        raise ValueError("boom")
    proc = cli("runs", "show", run.id)
    assert "[FAILED]" in proc.stdout and "ValueError: boom" in proc.stdout


@pytest.mark.parametrize(("run_id", "message"), [
    ("0" * 32, f"Error: run '{'0' * 32}' not found; list runs with `nbmlops runs list`"),
    ("abc", "too short"),
    ("zzzzzzzz", "its id (32 hexadecimal characters), a unique prefix of at least 6"),
    ("last", "Error: run 'last' not found; no runs recorded yet"),
])
def test_show_errors_one_line(run_id: str, message: str) -> None:
    proc = cli("runs", "show", run_id)
    assert proc.returncode == 1
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_unknown_command() -> None:
    proc = cli("nope")
    assert proc.returncode == 2 and "No such command 'nope'" in proc.stderr
