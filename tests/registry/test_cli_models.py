"""``nbmlops models``: list, versions, show, history, lineage, promote, alias, compare."""

from __future__ import annotations

import json
import uuid

import pytest

import nbmlops
from nbmlops.cli import main
from nbmlops.registry.versions import _registry


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def churn(trained_run) -> None:
    nbmlops.register_model("churn", run=trained_run(C=1.0).id)
    nbmlops.register_model("churn", run=trained_run(C=0.1).id)


def test_list_versions_show(churn, capsys) -> None:
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "churn" in out and "latest_version" in out
    code, out, _ = run_cli(capsys, "models", "versions", "churn", "--format", "json")
    rows = json.loads(out)
    assert [r["version"] for r in rows] == [2, 1] and rows[0]["checks"] == "never run"
    code, out, _ = run_cli(capsys, "models", "show", "churn/1")
    assert code == 0 and out.startswith("churn/1") and "Signature" in out and "Environment" in out
    code, out, _ = run_cli(capsys, "models", "show", "churn", "--format", "json")
    card = json.loads(out)
    assert card["version"]["version"] == 2 and card["params"] == {"C": 0.1}


def test_empty_registry(capsys) -> None:
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0 and "no models registered yet" in out


def test_promote_is_gated_and_errors_are_one_line(churn, capsys) -> None:
    code, out, err = run_cli(capsys, "models", "promote", "churn/1", "production")
    assert code == 1 and "never been checked" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "models", "promote", "churn/1", "production", "--force")
    assert code == 1 and "reason" in err
    code, out, _ = run_cli(capsys, "models", "promote", "churn/1", "production", "--force",
                           "--reason", "demo day")
    assert code == 0 and "churn@production -> version 1 [forced]" in out
    reg, _ = _registry()
    reg.add_check_results("churn", 2, uuid.uuid4().hex, [{"check": "ok", "passed": True}])
    code, out, _ = run_cli(capsys, "models", "promote", "churn/2", "production")
    assert code == 0 and "version 2" in out
    code, out, _ = run_cli(capsys, "models", "history", "churn", "--format", "json")
    hist = json.loads(out)
    assert [(h["from_version"], h["to_version"], h["forced"]) for h in hist] == \
        [(None, 1, True), (1, 2, False)]
    assert hist[0]["reason"] == "demo day"
    code, out, _ = run_cli(capsys, "models", "history", "churn")  # the table: blanks, not nan
    first, second = out.strip().splitlines()[2:]
    assert "nan" not in out and "demo day" in first and first.split()[3] == "1"
    assert second.split()[3:5] == ["1", "2"]


def test_alias_set_delete_and_unknowns(churn, capsys) -> None:
    code, out, _ = run_cli(capsys, "models", "alias", "set", "churn", "staging", "2",
                           "--reason", "try")
    assert code == 0 and nbmlops.get_model_version("churn@staging").version == 2
    code, _, err = run_cli(capsys, "models", "alias", "set", "churn", "staging", "9")
    assert code == 1 and "churn/9" in err
    code, out, _ = run_cli(capsys, "models", "alias", "delete", "churn", "staging")
    assert code == 0 and "deleted churn@staging" in out
    code, _, err = run_cli(capsys, "models", "show", "churn@staging")
    assert code == 1 and "churn@staging" in err and "no aliases" in err
    code, _, err = run_cli(capsys, "models", "show", "bad name")
    assert code == 1 and "invalid model name" in err


def test_lineage_and_compare(churn, capsys) -> None:
    code, out, _ = run_cli(capsys, "models", "lineage", "churn/1")
    assert code == 0 and "[model_version] churn/1" in out and "--read--> [dataset] train" in out
    code, out, _ = run_cli(capsys, "models", "lineage", "churn/1", "--format", "json")
    graph = json.loads(out)
    assert graph["root"] == "model:churn/1" and graph["edges"]
    code, out, _ = run_cli(capsys, "models", "lineage", "churn/1", "--format", "svg")
    assert out.startswith("<svg")
    code, out, _ = run_cli(capsys, "models", "compare", "churn", "1", "2")
    assert code == 0 and "churn/1" in out and "churn/2" in out and "param" in out
