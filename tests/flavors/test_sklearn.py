"""scikit-learn through skops: Pipelines round-trip; untrusted types are refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import UnsafeModelError
from nbmlops.flavors.base import get_flavor
from tests.flavors._custom import ADD_ONE, AddOne


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"age": rng.normal(40, 10, 120), "income": rng.normal(5, 2, 120),
                      "city": rng.choice(["a", "b", "c"], 120),
                      "plan": rng.choice(["x", "y"], 120)})
    X.loc[::17, "age"] = np.nan
    y = pd.Series((X["income"] > 5).astype(int))
    return X, y


def _pipelines() -> dict[str, object]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        PolynomialFeatures,
        StandardScaler,
    )

    def pre() -> ColumnTransformer:
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
             ["age", "income"]),
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("ord", OrdinalEncoder(), ["plan"]),
        ])

    return {
        "logreg": Pipeline([("pre", pre()), ("clf", LogisticRegression())]),
        "forest": Pipeline([("pre", pre()), ("clf", RandomForestClassifier(n_estimators=5))]),
        "hgb": Pipeline([("pre", pre()), ("clf", HistGradientBoostingClassifier(max_iter=5))]),
        "gb": Pipeline([("pre", pre()), ("clf", GradientBoostingClassifier(n_estimators=5))]),
        "poly": make_pipeline(
            ColumnTransformer([("p", make_pipeline(SimpleImputer(), PolynomialFeatures(2),
                                                   MinMaxScaler()), ["age", "income"])]),
            LogisticRegression()),
    }


@pytest.mark.parametrize("kind", ["logreg", "forest", "hgb", "gb", "poly"])
def test_pipelines_round_trip_through_the_registry(kind, frame) -> None:
    X, y = frame
    model = _pipelines()[kind].fit(X, y)
    with nbmlops.start_run() as run:
        nbmlops.log_model(model, input_example=X)
    mv = nbmlops.register_model(kind, run=run.id)
    assert mv.flavor == "sklearn" and mv.needs_trust == []
    assert mv.signature["columns"] == ["age", "income", "city", "plan"]
    loaded = nbmlops.load_model(f"{kind}/1")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def _custom_pipeline(frame):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = frame
    return make_pipeline(AddOne(), LogisticRegression()).fit(X[["age"]].fillna(0), y)


def test_custom_types_need_trust_to_save(frame) -> None:
    flavor = get_flavor("sklearn")
    with pytest.raises(UnsafeModelError, match=ADD_ONE.replace(".", r"\.")) as err:
        flavor.save(_custom_pipeline(frame))
    assert "trusted=" in str(err.value) and "NBMLOPS_TRUSTED_TYPES" in str(err.value)
    _, meta = flavor.save(_custom_pipeline(frame), trusted=[ADD_ONE])
    assert meta["needs_trust"] == [ADD_ONE]


def test_untrusted_types_are_refused_at_load(frame, monkeypatch, store_snapshot) -> None:
    X, _ = frame
    model = _custom_pipeline(frame)
    with nbmlops.start_run() as run:
        nbmlops.log_model(model, trusted=[ADD_ONE])
    mv = nbmlops.register_model("custom", run=run.id)
    assert mv.needs_trust == [ADD_ONE]
    monkeypatch.delenv("NBMLOPS_TRUSTED_TYPES", raising=False)
    before = store_snapshot()
    with pytest.raises(UnsafeModelError) as err:
        nbmlops.load_model("custom/1")  # trust given at save time does not carry over
    msg = str(err.value)
    assert ADD_ONE in msg and f"trusted=['{ADD_ONE}']" in msg and "NBMLOPS_TRUSTED_TYPES" in msg
    with pytest.raises(UnsafeModelError):
        run.load_model("model")
    assert store_snapshot() == before
    explicit = nbmlops.load_model("custom/1", trusted=[ADD_ONE])
    np.testing.assert_array_equal(explicit.predict(X[["age"]].fillna(0)),
                                  model.predict(X[["age"]].fillna(0)))
    monkeypatch.setenv("NBMLOPS_TRUSTED_TYPES", f"other.Type, {ADD_ONE}")
    assert type(nbmlops.load_model("custom/1").steps[0][1]) is AddOne


def test_lambdas_cannot_be_saved_safely() -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(lambda x: x).fit([[1.0]])
    with pytest.raises(UnsafeModelError):
        get_flavor("sklearn").save(model)


def test_recorded_type_list_cannot_widen_trust(frame) -> None:
    flavor = get_flavor("sklearn")
    data, meta = flavor.save(_custom_pipeline(frame), trusted=[ADD_ONE])
    assert ADD_ONE in meta["skops_types"]
    for forged in ({}, {"skops_types": []}, {"skops_types": meta["skops_types"]},
                   {"skops_types": "not a list"}):
        with pytest.raises(UnsafeModelError, match=ADD_ONE.replace(".", r"\.")):
            flavor.load(data, forged)
    assert type(flavor.load(data, {}, trusted=[ADD_ONE]).steps[0][1]) is AddOne


def test_types_in_reads_the_schema_without_rebuilding_anything() -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nbmlops.flavors.sklearn import types_in

    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit([[0.0], [1.0]], [0, 1])
    names = types_in(sio.dumps(pipe))
    assert {"sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
            "sklearn.linear_model._logistic.LogisticRegression"} <= set(names)
    assert types_in(b"not a zip") == [] and types_in(b"") == []
