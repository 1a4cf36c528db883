"""Model cards (HTML and text) and the lineage graph of a version."""

from __future__ import annotations

import uuid

import nbmlops
from nbmlops.registry.cards import build_card, model_card_text
from nbmlops.registry.versions import _registry


def _pipeline_version(data, tmp_path):
    """Register a model trained by a step run nested in a pipeline run, from a notebook."""
    X, y = data
    from tests.registry.conftest import fit

    nb = tmp_path / "train.ipynb"
    nb.write_text("{}")
    with nbmlops.start_run("pipeline", experiment="nightly") as parent:
        src = "model = LogisticRegression().fit(X, y)"
        with nbmlops.start_run("train-step", source=src, notebook_path=str(nb)) as step:
            nbmlops.log_params({"C": 1.0})
            nbmlops.log_dataset(X, "train")
            nbmlops.log_dataset(X.head(10), "holdout")
            nbmlops.log_model(fit(data), input_example=X[["a", "b"]])
            nbmlops.log_metric("acc", 0.93)
    return parent, step, nbmlops.register_model("churn", run=step.id)


def test_card_has_every_section(data, tmp_path) -> None:
    parent, step, mv = _pipeline_version(data, tmp_path)
    nbmlops.set_alias("churn", "staging", 1, reason="first")
    reg, _ = _registry()
    reg.add_check_results("churn", 1, uuid.uuid4().hex, [
        {"check": "accuracy", "passed": True, "value": 0.93, "threshold": {"min": 0.9}},
        {"check": "latency", "passed": False, "value": 12.0, "threshold": {"max": 5}}])
    mv = nbmlops.get_model_version("churn@staging")
    card = build_card(mv)
    assert card.metrics == {"acc": 0.93} and card.params == {"C": 1.0}
    assert card.signature == [("a", "float64"), ("b", "float64")]
    assert {d["name"] for d in card.data} == {"train", "holdout"}
    assert [d["shape"] for d in card.data if d["name"] == "train"] == ["200×3"]
    assert card.code["notebook"].endswith("train.ipynb") and parent.id in card.code["parent run"]
    assert card.source == "model = LogisticRegression().fit(X, y)"
    assert card.environment["python"] and "scikit-learn" in card.environment
    assert [c["check"] for c in card.checks] == ["accuracy", "latency"]
    assert [h["reason"] for h in card.alias_history] == ["first"]
    html = mv._repr_html_()
    for section in ("Metrics", "Params", "Signature", "Training data", "Code", "Environment",
                    "Checks", "Alias history"):
        assert f"<h4>{section}</h4>" in html
    assert "FAIL" in html and "≤ 5" in html and "LogisticRegression().fit" in html
    text = model_card_text(mv)
    assert "churn/1" in text and "latency" in text and "FAIL" in text and "@staging" in text
    assert "train (input)" in text and "| model = LogisticRegression" in text


def test_card_of_a_never_checked_version(trained_run) -> None:
    mv = nbmlops.register_model("plain", run=trained_run().id)
    assert "never checked" in mv._repr_html_()
    assert "(none recorded)" in model_card_text(mv)


def test_lineage_graph(data, tmp_path) -> None:
    parent, step, mv = _pipeline_version(data, tmp_path)
    nbmlops.set_alias("churn", "production", 1)
    g = nbmlops.lineage("churn@production")
    assert g.root == "model:churn/1"
    kinds = {n.kind for n in g.nodes}
    assert {"model_version", "alias", "run", "dataset", "notebook", "environment",
            "pipeline_run"} <= kinds
    rel = {(e.source.split(":")[0], e.relation, e.target.split(":")[0]) for e in g.edges}
    assert ("alias", "points_at", "model") in rel
    assert ("model", "registered_from", "run") in rel
    assert ("run", "read", "dataset") in rel and ("run", "executed_in", "notebook") in rel
    assert ("run", "ran_in", "environment") in rel and ("run", "step_of", "run") in rel
    assert g.of_kind("pipeline_run")[0].id == f"run:{parent.id}"
    assert len(g.of_kind("dataset")) == 2
    ids = {n.id for n in g.nodes}
    assert all(e.source in ids and e.target in ids for e in g.edges)
    d = g.to_dict()
    assert len(d["nodes"]) == len(g.nodes) and len(d["edges"]) == len(g.edges)
    svg = g.to_svg()
    assert svg.count("<rect") == len(g.nodes) and svg.count("marker-end") == len(g.edges)
    assert "churn@production" in svg and "step_of" in svg
    # notebooks get a PNG: JupyterLab strips inline SVG from untrusted outputs
    html = g._repr_html_()
    assert "<svg" not in html and "src='data:image/png;base64," in html
    assert g.to_png().startswith(b"\x89PNG")
    text = g.to_text()
    assert "[model_version] churn/1" in text and "--step_of--> [pipeline_run] pipeline" in text


def test_lineage_records_the_commit(trained_run, tmp_path, monkeypatch) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["git", "init", "-q"], ["git", "-c", "user.email=a@b", "-c", "user.name=a",
                                        "commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(cmd, cwd=repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.strip()
    monkeypatch.chdir(repo)
    mv = nbmlops.register_model("git-model", run=trained_run().id)
    g = nbmlops.lineage(mv.ref)
    assert [n.label for n in g.of_kind("commit")] == [commit[:12]]
