"""ONNX from models trained on DataFrames: ``to_onnx`` maps columns to the graph's inputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import ValidationError
from nbmlops.flavors.onnx import to_onnx

DOCS = Path(__file__).resolve().parents[2] / "docs" / "registry.md"


@pytest.fixture
def iris() -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    return X_train, X_test, LogisticRegression(max_iter=500).fit(X_train, y_train)


def test_the_docs_onnx_example_runs_as_written(iris: Any) -> None:
    X_train, X_test, clf = iris
    text = DOCS.read_text()
    code = re.search(r"### ONNX\n\n```python\n(.*?)```", text, re.S)
    assert code is not None
    scope: dict[str, Any] = {"nbmlops": nbmlops, "model": clf, "X_train": X_train,
                             "X_test": X_test}
    exec(code.group(1), scope)
    got = nbmlops.load_model("churn-onnx/1").predict(X_test)
    assert (got == clf.predict(X_test)).mean() >= 0.97
    mv = nbmlops.get_model_version("churn-onnx/1")
    assert mv.signature is not None and mv.signature["columns"] == list(X_train.columns)
    shuffled = X_test[list(reversed(X_test.columns))]  # by name, not position
    assert (nbmlops.load_model("churn-onnx/1").predict(shuffled) == got).all()
    with pytest.raises(ValidationError, match=r"missing columns \['petal width \(cm\)'\]"):
        nbmlops.load_model("churn-onnx/1").predict(X_test.drop(columns="petal width (cm)"))


def test_mixed_columns_become_one_input_each() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"monthly": rng.normal(50, 10, 200), "tenure": rng.integers(1, 60, 200),
                      "plan": rng.choice(["basic", "pro", "team"], 200)})
    y = ((X.monthly > 50) ^ (X.plan == "pro")).astype(int)
    pre = ColumnTransformer([("num", StandardScaler(), ["monthly", "tenure"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])])
    pipe = make_pipeline(pre, LogisticRegression()).fit(X, y)
    proto = to_onnx(pipe, X)
    assert [i.name for i in proto.graph.input] == ["monthly", "tenure", "plan"]
    with nbmlops.start_run():
        nbmlops.log_model(proto, name="mixed")
    loaded = nbmlops.last_run().load_model("mixed")
    assert (loaded.predict(X) == pipe.predict(X)).mean() >= 0.98


def test_bad_dtype_and_unconvertible_model_name_the_value(iris: Any) -> None:
    X_train, _, clf = iris
    before = nbmlops.runs()
    with pytest.raises(ValidationError, match="dtype 'int8' is not supported; use 'float32'"):
        to_onnx(clf, X_train, dtype="int8")

    from sklearn.base import BaseEstimator

    class Odd(BaseEstimator):
        def fit(self, X: Any, y: Any = None) -> Odd:
            return self

    with pytest.raises(ValidationError, match="to_onnx converts fitted scikit-learn models, "
                                              "got a builtins.str"):
        to_onnx("model.pkl", X_train)
    with pytest.raises(ValidationError, match="skl2onnx cannot convert this Odd: "):
        to_onnx(Odd().fit(X_train), X_train)
    assert nbmlops.runs().equals(before)
