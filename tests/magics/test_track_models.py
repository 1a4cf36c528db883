"""Which estimators ``%%track`` logs as models, and ``Run.load_model()`` without a name."""

from __future__ import annotations

from typing import Any

import pytest

import nbmlops
from nbmlops.errors import ArtifactNotFound, ValidationError
from tests.magics.conftest import run

DATA = ("import numpy as np\n"
        "from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)\n")


def test_parts_of_a_logged_estimator_are_not_models(ip: Any) -> None:
    run(ip, DATA)
    run(ip, "%%track forest\n"
            "forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)\n"
            "for i, tree in enumerate(forest.estimators_):\n"
            "    depth = tree.get_depth()\n"
            "pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)\n"
            "scaler = pipe[0]\n"
            "gb = GradientBoostingClassifier(n_estimators=3).fit(X, y)\n"
            "first = gb.estimators_[0, 0]\n")
    logged = nbmlops.last_run()
    assert sorted(logged.models) == ["forest", "gb", "pipe"]
    with pytest.raises(ArtifactNotFound, match="its models are: forest, gb, pipe"):
        logged.load_model()


def test_load_model_without_a_name_returns_the_only_model(ip: Any) -> None:
    run(ip, DATA)
    run(ip, "%%track one\nclf = LogisticRegression().fit(X, y)\n")
    logged = nbmlops.last_run()
    assert logged.models == ["clf"]
    model = logged.load_model()
    assert type(model).__name__ == "LogisticRegression"
    assert (model.predict(ip.user_ns["X"]) == ip.user_ns["clf"].predict(ip.user_ns["X"])).all()
    assert type(logged.load_model("model")).__name__ == "LogisticRegression"  # the old default


def test_load_model_bad_names(ip: Any) -> None:
    run(ip, DATA)
    with nbmlops.start_run("r") as r:
        nbmlops.log_artifact(b"text", "notes.txt")
        with pytest.raises(ArtifactNotFound, match="no model 'model'; it has no model artifacts"):
            r.load_model()
        with pytest.raises(ValidationError, match="'notes.txt' of run .* is not a model"):
            r.load_model("notes.txt")
        nbmlops.log_model(run(ip, "LogisticRegression().fit(X, y)"), name="lr")
        with pytest.raises(ArtifactNotFound, match="has no model 'rf'; its models are: lr"):
            r.load_model("rf")
    assert [a.name for a in r.artifacts] == ["lr", "notes.txt"]

