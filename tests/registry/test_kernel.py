"""Real kernels: the registry magics in a notebook, and ``nbmlops models check`` (papermill)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

import nbmlops
from nbmlops.cli import main
from nbmlops.registry.versions import _registry

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "example_notebooks" / "checks" / "model_checks.ipynb"

CELLS = [
    "%load_ext nbmlops",
    "import numpy as np, pandas as pd, nbmlops\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.metrics import accuracy_score\n"
    "rng = np.random.default_rng(0)\n"
    "X = pd.DataFrame({'a': rng.normal(size=100), 'b': rng.normal(size=100)})\n"
    "y = (X.a > 0).astype(int)\n"
    "with nbmlops.start_run('train') as run:\n"
    "    nbmlops.log_dataset(X, 'train')\n"
    "    nbmlops.log_metric('acc', 0.97)\n"
    "clf = LogisticRegression().fit(X, y)\n"
    "model = 'my own variable'",
    # 2: a variable not logged yet: logged into the last run, then registered
    "%register churn --model clf --alias staging --description first",
    # 3: one failing assert among passing checks
    "%%modeltest churn@staging\n"
    "check_metric('acc', accuracy_score, X, y, min=0.9)\n"
    "assert model_version.version == 1\n"
    "assert len(X) > 1000, 'too few rows'\n"
    "seen = type(model).__name__",
    # 4: the gate holds
    "%promote churn@staging production",
    # 5: passing checks promote
    "%%modeltest churn@staging --promote-to production\n"
    "check_metric('acc', accuracy_score, X, y, min=0.9)\n"
    "check_latency(X.head(3), p95_ms=60000)",
    # 6: the same run's logged artifact ('clf') is registered again, not logged twice
    "%register churn --model clf",
    "%promote churn/2 production --force --reason 'hotfix 42'",
    "%promote churn/2 production --force",
    "%register bad/name",
    "print(model, seen, sorted(a.name for a in run.artifacts))",
]


@pytest.mark.kernel
def test_registry_magics_in_a_real_kernel(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=180, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = [c.outputs for c in nb.cells]

    def text(i: int) -> str:
        parts = []
        for o in outs[i]:
            parts.append(o.get("text", "") + o.get("evalue", ""))
            parts.extend(str(v) for v in o.get("data", {}).values())
        return "\n".join(parts)

    def errors(i: int) -> list:
        return [o for o in outs[i] if o.output_type == "error"]

    def usage_error(i: int) -> str:
        """Return the one-line UsageError a magic printed (no traceback)."""
        assert errors(i) == [], (i, errors(i))
        (line,) = [o.text for o in outs[i] if o.get("name") == "stderr"]
        assert line.startswith("UsageError: ") and line.count("\n") == 1, line
        return line

    for i in (0, 1, 2, 3, 5, 6, 7, 10):
        assert errors(i) == [], (i, errors(i))
    assert "<h3>churn/1" in text(2) and "@staging" in text(2)  # the card
    assert "FAIL" in text(3) and "assert len(X) &gt; 1000" in text(3)
    for i, msg in ((4, "failed its latest checks (assert len(X) > 1000)"), (8, "reason"),
                   (9, "invalid model name")):
        assert msg in usage_error(i), (i, usage_error(i))
    assert "churn@production -> version 1" in text(5)
    assert "CheckResult(" not in text(5)  # the suite's table only, not the last check's repr
    assert "churn@production -> version 2 (was 1) [forced]" in text(7)
    assert "my own variable LogisticRegression ['clf']" in text(10)

    v1, v2 = nbmlops.get_model_version("churn/1"), nbmlops.get_model_version("churn/2")
    assert v1.description == "first" and v1.metrics == {"acc": 0.97}
    assert (v1.artifact_name, v2.artifact_name) == ("clf", "clf")
    assert v1.run_id == v2.run_id
    reg, _ = _registry()
    assert [c["check"] for c in reg.latest_checks("churn", 1)] == ["acc", "latency_p95_ms"]
    hist = nbmlops.alias_history("churn")
    assert list(zip(hist["alias"], hist["to_version"], hist["forced"], strict=True)) == [
        ("staging", 1, False), ("production", 1, False), ("production", 2, True)]
    assert hist.iloc[-1]["reason"] == "hotfix 42"


@pytest.fixture()
def v1(tmp_path: Path) -> Path:
    """Register a breast-cancer model like example_notebooks/02_registry.ipynb does."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    with nbmlops.start_run() as run:
        nbmlops.log_model(clf, input_example=X)
    nbmlops.register_model("breast-cancer", run=run.id)
    folder = tmp_path / "nb"
    folder.mkdir()
    return Path(shutil.copy(CHECKS, folder / CHECKS.name))


@pytest.mark.kernel
def test_models_check_runs_a_checks_notebook(v1: Path, capsys) -> None:
    main(["models", "check", "breast-cancer/1", "--notebook", str(v1)])  # no exit: all passed
    out = capsys.readouterr().out
    assert "accuracy" in out and "PASS" in out and "FAIL" not in out
    reg, _ = _registry()
    rows = reg.latest_checks("breast-cancer", 1)
    names = [r["check"] for r in rows]
    assert names[:4] == ["accuracy", "recall", "no_regression_vs_production", "latency_p95_ms"]
    assert "assert set(model.predict(X_test)) <= {0, 1}" in names
    assert all(r["passed"] for r in rows) and len({r["batch_id"] for r in rows}) == 1
    assert nbmlops.promote("breast-cancer", 1, "production").aliases == ["production"]

    # a cell that raises fails the batch: the version can no longer be promoted
    with pytest.raises(SystemExit) as failed:
        main(["models", "check", "breast-cancer/1", "--notebook", str(v1),
              "-p", "min_accuracy=not-a-number"])
    captured = capsys.readouterr()
    assert failed.value.code == 1 and "checks failed" in captured.err
    rows = reg.latest_checks("breast-cancer", 1)
    assert [r["check"] for r in rows] == ["notebook model_checks.ipynb"]
    assert "TypeError" in rows[0]["detail"]
    with pytest.raises(nbmlops.registry.aliases.PromotionBlocked):
        nbmlops.promote("breast-cancer", 1, "champion")
