"""The flavor interface: a third-party flavor plugs in; pickle stays an explicit opt-in."""

from __future__ import annotations

import pytest

import nbmlops
from nbmlops.errors import UnsafeModelError, ValidationError
from nbmlops.flavors.base import (
    FLAVORS,
    flavor_for,
    get_flavor,
    infer_signature,
    register_flavor,
    unregister_flavor,
)
from tests.flavors._custom import ThresholdModel

TARGET = "tests.flavors._custom:ThresholdFlavor"


@pytest.fixture()
def threshold_flavor():
    register_flavor("threshold", TARGET)
    yield
    unregister_flavor("threshold")


def test_a_custom_flavor_registers_loads_and_predicts(threshold_flavor) -> None:
    assert flavor_for(ThresholdModel(0.5)).name == "threshold"
    with nbmlops.start_run() as run:
        nbmlops.log_model(ThresholdModel(0.5))
    mv = nbmlops.register_model("thr", run=run.id)
    assert mv.flavor == "threshold" and not mv.unsafe
    model = nbmlops.load_model("thr/1")
    assert isinstance(model, ThresholdModel) and model.threshold == 0.5
    assert mv.predict([[1.0], [0.0]]).tolist() == [1, 0]
    assert get_flavor("threshold").predict(model, [[0.6]]).tolist() == [1]


def test_flavor_table_refuses_silent_replacement(threshold_flavor) -> None:
    with pytest.raises(ValidationError, match="already registered"):
        register_flavor("threshold", "elsewhere:Other")
    register_flavor("threshold", TARGET)  # same target: fine
    with pytest.raises(ValidationError, match="module:Class"):
        register_flavor("x", "no-colon")
    with pytest.raises(ValidationError, match="built in"):
        unregister_flavor("sklearn")
    with pytest.raises(ValidationError, match="unknown flavor 'nope'"):
        get_flavor("nope")
    assert list(FLAVORS)[:3] == ["sklearn", "onnx", "pickle"]


def test_unknown_models_need_a_flavor_or_the_unsafe_opt_in() -> None:
    with pytest.raises(UnsafeModelError, match="register a flavor"):
        flavor_for(ThresholdModel(0.0))
    assert flavor_for(ThresholdModel(0.0), unsafe_pickle=True).unsafe
    with nbmlops.start_run() as run:
        nbmlops.log_model(ThresholdModel(0.0), unsafe_pickle=True)
    with pytest.raises(UnsafeModelError, match="unsafe_pickle=True"):
        run.load_model()


def test_infer_signature() -> None:
    import numpy as np
    import pandas as pd

    assert infer_signature(pd.DataFrame({"x": [1], "y": ["a"]})) == {
        "kind": "dataframe", "columns": ["x", "y"], "dtypes": ["int64", infer_signature(
            pd.DataFrame({"y": ["a"]}))["dtypes"][0]]}
    assert infer_signature(np.zeros((2, 3), dtype=np.float32))["dtypes"] == ["float32"] * 3
    assert infer_signature([1, 2]) is None
