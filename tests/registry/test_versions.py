"""Registering, resolving, loading, listing and comparing model versions; bad inputs."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import nbmlops
from nbmlops.errors import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    InvalidNameError,
    ModelNotFound,
    RunNotFound,
    UnsafeModelError,
    ValidationError,
)
from nbmlops.registry.refs import ModelRef, parse_ref
from tests.flavors._custom import ThresholdModel
from tests.registry.conftest import fit


def test_versions_are_numbered_and_keep_run_data(trained_run, data) -> None:
    X, y = data
    r1, r2 = trained_run(C=1.0), trained_run(C=0.01)
    v1 = nbmlops.register_model("churn", run=r1.id, description="first", tags={"team": "a"})
    v2 = nbmlops.register_model("churn", run=r2)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.run_id == r1.id and v1.description == "first" and v1.tags == {"team": "a"}
    assert v1.metrics == r1.metrics and "acc" in v1.metrics
    assert v1.flavor == "sklearn" and not v1.unsafe and v1.created_by
    assert v1.signature == {"kind": "dataframe", "columns": ["a", "b"],
                            "dtypes": ["float64", "float64"]}
    assert v1.input_example is not None and len(v1.input_example) == 5
    info = next(a for a in r1.artifacts if a.name == "model")
    assert (v1.sha256, v1.size) == (info.sha256, info.size)
    loaded = nbmlops.load_model("churn/1")
    np.testing.assert_array_equal(loaded.predict(X[["a", "b"]]),
                                  fit(data, 1.0).predict(X[["a", "b"]]))
    assert nbmlops.get_model_version("churn").version == 2  # bare name = latest
    assert v2.predict(X[["a", "b"]]).shape == (len(X),)


def test_register_last_run_and_model_object(data) -> None:
    X, _ = data
    with nbmlops.start_run() as run:
        nbmlops.log_metric("acc", 0.5)
    clf = fit(data)
    mv = nbmlops.register_model("obj", model=clf, input_example=X[["a", "b"]])
    assert mv.run_id == run.id and mv.artifact_name == "model"
    assert [a.name for a in run.artifacts] == ["model"]
    again = nbmlops.register_model("obj", run=run.id, model=fit(data, C=0.1))
    assert again.artifact_name == "model-2" and again.version == 2
    assert sorted(a.name for a in run.artifacts) == ["model", "model-2"]


def test_list_models_and_versions(trained_run) -> None:
    run = trained_run()
    nbmlops.register_model("a-model", run=run.id)
    nbmlops.register_model("a-model", run=run.id)
    nbmlops.register_model("b.model", run=run.id)
    nbmlops.set_alias("a-model", "staging", 1)
    models = nbmlops.list_models()
    assert list(models["name"]) == ["a-model", "b.model"]
    assert list(models["latest_version"]) == [2, 1]
    assert models.loc[0, "aliases"] == "staging→1"
    versions = nbmlops.list_versions("a-model")
    assert list(versions["version"]) == [2, 1]
    assert list(versions["aliases"]) == ["", "staging"]
    assert list(versions["checks"]) == ["never run", "never run"]
    assert list(versions["unsafe_pickle"]) == [False, False]
    assert "metrics.acc" in versions.columns
    with pytest.raises(ModelNotFound, match="nope"):
        nbmlops.list_versions("nope")


def test_compare_versions_side_by_side(trained_run) -> None:
    nbmlops.register_model("m", run=trained_run(C=1.0).id)
    nbmlops.register_model("m", run=trained_run(C=0.01).id)
    frame = nbmlops.compare_versions("m", 1, 2)
    params = frame[frame["kind"] == "param"].set_index("key")
    assert params.loc["C", "m/1"] == 1.0 and params.loc["C", "m/2"] == 0.01
    assert bool(params.loc["C", "differs"])
    data_row = frame[frame["kind"] == "data"].iloc[0]
    assert not data_row["differs"]  # same training data
    assert set(frame["kind"]) == {"param", "metric", "data", "model"}


def test_unsafe_pickle_is_recorded_and_shown() -> None:
    with nbmlops.start_run() as run:
        pass
    with pytest.raises(UnsafeModelError, match="unsafe_pickle=True"):
        nbmlops.register_model("thr", run=run.id, model=ThresholdModel(0.0))
    mv = nbmlops.register_model("thr", run=run.id, model=ThresholdModel(0.0),
                                unsafe_pickle=True)
    assert mv.unsafe and mv.unsafe_pickle and mv.flavor == "pickle"
    assert bool(nbmlops.list_versions("thr").loc[0, "unsafe_pickle"])
    assert "UNSAFE" in nbmlops.list_versions("thr").loc[0, "flavor"]
    assert "UNSAFE pickle" in mv._repr_html_()
    with pytest.raises(UnsafeModelError, match="arbitrary code"):
        nbmlops.load_model("thr/1")
    assert nbmlops.load_model("thr/1", unsafe_pickle=True).predict([[1.0], [-1.0]]).tolist() \
        == [1, 0]


# bad inputs: a clear error, and the store is unchanged ------------------------------------


def test_unknown_run_changes_nothing(trained_run, store_snapshot) -> None:
    trained_run()
    before = store_snapshot()
    with pytest.raises(RunNotFound, match="0123456789abcdef"):
        nbmlops.register_model("churn", run="0123456789abcdef0123456789abcdef")
    assert store_snapshot() == before


def test_run_without_that_model_changes_nothing(trained_run, store_snapshot) -> None:
    run = trained_run()
    with nbmlops.start_run() as empty:
        nbmlops.log_artifact("hello", name="notes.txt")
    before = store_snapshot()
    with pytest.raises(ArtifactNotFound, match="its models are: model"):
        nbmlops.register_model("churn", run=run.id, model="rf")
    with pytest.raises(ArtifactNotFound, match="no model artifacts"):
        nbmlops.register_model("churn", run=empty.id)
    with pytest.raises(ValidationError, match="not a model"):
        nbmlops.register_model("churn", run=empty.id, model="notes.txt")
    assert store_snapshot() == before


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x@y", "é", "x" * 300, ".."])
def test_invalid_names_change_nothing(name, trained_run, store_snapshot) -> None:
    run = trained_run()
    before = store_snapshot()
    with pytest.raises(InvalidNameError, match="invalid model name"):
        nbmlops.register_model(name, run=run.id)
    assert store_snapshot() == before


def test_invalid_tag_key_changes_nothing(trained_run, store_snapshot) -> None:
    run = trained_run()
    before = store_snapshot()
    with pytest.raises(InvalidNameError, match="tag"):
        nbmlops.register_model("ok", run=run.id, tags={"bad key": "v"})
    assert store_snapshot() == before


@pytest.mark.parametrize("ref", ["", "a/b/c", "churn/0", "churn/x", "churn@", "bad name/1",
                                 "churn@bad alias"])
def test_bad_references(ref) -> None:
    with pytest.raises(ValidationError):
        parse_ref(ref)


def test_reference_forms() -> None:
    assert parse_ref("churn/3") == ModelRef("churn", version=3)
    assert parse_ref("churn@production") == ModelRef("churn", alias="production")
    assert str(parse_ref("churn")) == "churn"


def test_missing_versions_and_models(trained_run) -> None:
    nbmlops.register_model("churn", run=trained_run().id)
    with pytest.raises(ModelNotFound, match="churn has versions 1"):
        nbmlops.get_model_version("churn/7")
    with pytest.raises(ModelNotFound, match="nbmlops models list"):
        nbmlops.get_model_version("other/1")
    with pytest.raises(ModelNotFound, match="register one"):
        nbmlops.get_model_version("other")


def test_tampered_artifact_is_refused(trained_run, nbmlops_home, store_snapshot) -> None:
    mv = nbmlops.register_model("churn", run=trained_run().id)
    blob = nbmlops_home / "artifacts" / mv.sha256[:2] / mv.sha256
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    blob.write_bytes(bytes(raw))
    before = store_snapshot()
    with pytest.raises(ArtifactIntegrityError, match="integrity check") as err:
        nbmlops.load_model("churn/1")
    assert err.value.actual == hashlib.sha256(raw).hexdigest()
    assert store_snapshot() == before
