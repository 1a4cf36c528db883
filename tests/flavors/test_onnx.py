"""ONNX files through onnxruntime: register an .onnx model, load it, predict."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import nbmlops
from nbmlops.errors import ValidationError
from nbmlops.flavors.base import flavor_for
from tests.conftest import require


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> tuple[Path, object, np.ndarray]:
    for mod in ("onnx", "onnxruntime", "skl2onnx"):
        require(importlib.util.find_spec(mod) is not None, f"{mod} is not installed")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
    clf = LogisticRegression().fit(X, y)
    proto = to_onnx(clf, X[:1], options={"zipmap": False}, target_opset=17)
    path = tmp_path_factory.mktemp("onnx") / "clf.onnx"
    path.write_bytes(proto.SerializeToString())
    return path, clf, X


def test_register_load_predict_onnx(onnx_file) -> None:
    path, clf, X = onnx_file
    assert flavor_for(str(path)).name == "onnx"
    with nbmlops.start_run() as run:
        info = nbmlops.log_model(str(path), "clf")
    assert info.media_type == "application/onnx"
    mv = nbmlops.register_model("onnx-clf", run=run.id, model="clf")
    assert mv.flavor == "onnx" and not mv.unsafe
    assert mv.signature == {"kind": "ndarray", "columns": ["f0", "f1", "f2"],
                            "dtypes": ["float32"] * 3}
    assert mv.meta["outputs"][0]["name"] == "label" and mv.meta["opsets"]["ai.onnx"] == 17
    model = nbmlops.load_model("onnx-clf/1")
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))
    np.testing.assert_allclose(model.run(X)["probabilities"], clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X[0]), clf.predict(X[:1]))  # one row
    np.testing.assert_array_equal(mv.predict(X.astype(np.float64)), clf.predict(X))
    # a loaded OnnxModel can be logged again, byte for byte
    with nbmlops.start_run() as again:
        assert nbmlops.log_model(model).sha256 == mv.sha256
    assert again.load_model().predict(X[:3]).tolist() == clf.predict(X[:3]).tolist()


def test_a_proto_object_is_accepted(onnx_file) -> None:
    import onnx

    path, clf, X = onnx_file
    with nbmlops.start_run() as run:
        nbmlops.log_model(onnx.load(str(path)))
    assert nbmlops.register_model("proto", run=run.id).flavor == "onnx"


def test_invalid_onnx_is_refused(tmp_path, store_snapshot) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with nbmlops.start_run():
        before = store_snapshot()
        with pytest.raises(ValidationError, match="not a valid ONNX model"):
            nbmlops.log_model(str(bad))
        assert store_snapshot() == before


def test_multi_input_graph_takes_named_columns() -> None:
    for mod in ("onnx", "onnxruntime"):
        require(importlib.util.find_spec(mod) is not None, f"{mod} is not installed")
    import onnx
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 1])
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "g", [a, b], [out])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    with nbmlops.start_run() as run:
        nbmlops.log_model(proto)
    mv = nbmlops.register_model("adder", run=run.id)
    assert mv.signature["columns"] == ["a", "b"]
    import pandas as pd

    model = mv.load()
    assert model.predict(pd.DataFrame({"a": [1.0, 2.0], "b": [10.0, 20.0]})).tolist() == \
        [11.0, 22.0]
    with pytest.raises(ValidationError, match="missing columns"):
        model.predict(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(ValidationError, match="several named inputs"):
        model.predict(np.zeros((1, 2)))
