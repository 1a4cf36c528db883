"""Missing values at serving: the training data or the model decide, not the example rows."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pandas as pd

from nbmlops.serving.app import create_app
from nbmlops.serving.service import ModelService
from tests.serving.conftest import register


def churn_with_gaps(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Return numeric and string columns with 5% missing values (none in the first 5 rows)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "monthly": rng.normal(70, 20, n).round(2),
        "tenure": rng.integers(0, 72, n).astype(float),
        "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
    })
    y = pd.Series((frame["monthly"] > 75).astype(int), name="churned")
    for col in frame.columns:
        holes = rng.choice(np.arange(5, n), size=n // 20, replace=False)
        frame.loc[holes, col] = np.nan
    return frame, y


def imputing_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         ["monthly", "tenure"]),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), ["plan"]),
    ])
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=500))])


def post(app: Any, body: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://t") as c:
                return await c.post("/invocations", json=body)

    return asyncio.run(go())


def test_an_imputing_pipeline_takes_missing_values(nbmlops_home: Any) -> None:
    frame, y = churn_with_gaps()
    assert not frame.head(5).isna().any().any()  # the logged input example holds no gap
    register("gaps", imputing_pipeline(), frame=frame, y=y)
    app = create_app(ModelService("gaps@production"))
    rows = [{"monthly": None, "tenure": 12.0, "plan": "plus"},
            {"monthly": 90.5, "tenure": None, "plan": None}]
    r = post(app, {"dataframe_records": rows})
    assert r.status_code == 200, r.text
    import nbmlops

    want = nbmlops.load_model("gaps/1").predict(pd.DataFrame(rows).fillna(np.nan))
    assert r.json()["predictions"] == want.tolist()


def test_a_model_that_cannot_take_missing_values_refuses_them(nbmlops_home: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, y = churn_with_gaps()
    numeric = frame[["monthly", "tenure"]].fillna(0.0)
    register("strict", LogisticRegression(max_iter=500), frame=numeric, y=y)
    r = post(create_app(ModelService("strict@production")),
             {"dataframe_records": [{"monthly": None, "tenure": 1.0}]})
    assert r.status_code == 400
    assert "column 'monthly' has a missing value (null) at row 0" in r.json()["error"]


def test_when_unsure_the_model_decides(nbmlops_home: Any) -> None:
    # a pipeline without an imputer, trained without gaps: nbmlops cannot know; the model
    # refuses the NaN and the client gets a 400 that says so (not a 500)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, y = churn_with_gaps()
    numeric = frame[["monthly", "tenure"]].fillna(0.0)
    register("unsure", make_pipeline(StandardScaler(), LogisticRegression()), frame=numeric, y=y)
    r = post(create_app(ModelService("unsure@production")),
             {"dataframe_records": [{"monthly": None, "tenure": 1.0}]})
    assert r.status_code == 400, r.text
    assert "the model refused the missing value(s)" in r.json()["error"]
    assert "NaN" in r.json()["error"]


def test_a_model_logged_without_an_example_gets_a_signature(nbmlops_home: Any) -> None:
    from sklearn.ensemble import RandomForestClassifier

    import nbmlops

    rng = np.random.default_rng(0)
    x = rng.random((120, 4))
    with nbmlops.start_run(name="no-example") as run:
        run.log_model(RandomForestClassifier(n_estimators=5, random_state=0)
                      .fit(x, (x[:, 0] > 0.5).astype(int)))
    mv = nbmlops.register_model("bare", run=run)
    assert mv.signature == {"kind": "ndarray", "columns": ["f0", "f1", "f2", "f3"],
                            "dtypes": ["float64"] * 4}
    schema = ModelService("bare/1", "sklearn").current.schema
    assert schema.kinds == ("f",) * 4  # numeric: validation and ONNX conversion apply

    # fitted on a frame with a string column, logged without an example: the column
    # types come from the statistics of the dataset the run read
    frame, y = churn_with_gaps()
    with nbmlops.start_run(name="frame-no-example") as run:
        run.log_dataset(frame, "train")
        run.log_model(imputing_pipeline().fit(frame, y))
    mv = nbmlops.register_model("bare-frame", run=run)
    assert mv.signature is not None and mv.signature["columns"] == ["monthly", "tenure", "plan"]
    app = create_app(ModelService("bare-frame/1"))
    r = post(app, {"dataframe_records": [{"monthly": 80.0, "tenure": None, "plan": "pro"}]})
    assert r.status_code == 200, r.text
