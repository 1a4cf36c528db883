"""Round trips with the real MLflow client: export to and import from MLflow stores."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.errors import UnsafeModelError, ValidationError
from tests.conftest import require

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning",
                                        "ignore::UserWarning")


@pytest.fixture
def mlflow_client() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        require(False, "mlflow is not installed (pip install -e '.[dev]')")
    return MlflowClient


@pytest.fixture(params=["sqlite", "file"])
def uri(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in for mlruns/
    return (tmp_path / "mlruns").as_uri()


def _nbmlops_history() -> dict[str, str]:
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 4})
    y = (X["a"] > 9).astype(int)
    with nbmlops.start_run("train", experiment="churn", params={"C": 0.5, "model": "lr"},
                           tags={"team": "ml"}, capture=False) as run:
        for step in range(30):
            nbmlops.log_metric("loss", 1 / (step + 1), step=step)
        nbmlops.log_metric("acc", 0.9)
        nbmlops.log_artifact(b"hello", name="notes/readme.txt")
        nbmlops.log_model(LogisticRegression().fit(X, y), input_example=X.head(3))
    with nbmlops.start_run("no-metrics", experiment="churn", capture=False) as bare:
        pass
    nbmlops.register_model("churn", run=run.id)
    nbmlops.set_alias("churn", "staging", 1, reason="test")
    return {"run": run.id, "bare": bare.id}


def test_export_round_trip_and_idempotence(mlflow_client: Any, uri: str) -> None:
    ids = _nbmlops_history()
    report = nbmlops.export_mlflow(uri, models=True)
    assert (report.runs_created, report.versions_created) == (2, 1), str(report)
    ml = mlflow_client(uri, registry_uri=uri)
    exp = ml.get_experiment_by_name("churn")
    runs = {r.data.tags["nbmlops.run_id"]: r for r in ml.search_runs([exp.experiment_id])}
    got = runs[ids["run"]]
    ours = nbmlops.get_run(ids["run"])
    assert got.data.params == {"C": "0.5", "model": "lr"}
    assert got.data.tags["team"] == "ml" and got.info.run_name == "train"
    assert got.info.status == "FINISHED"
    assert got.info.start_time == int(ours.record.start_time.timestamp() * 1000)
    hist = ml.get_metric_history(got.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in hist) == [(s, 1 / (s + 1)) for s in range(30)]
    arts = {a.path for a in ml.list_artifacts(got.info.run_id)}
    assert {"notes", "model"} <= arts
    mv = ml.get_model_version_by_alias("churn", "staging")
    assert mv.run_id == got.info.run_id and mv.tags["nbmlops.version"] == "1"

    again = nbmlops.export_mlflow(uri, models=True)
    assert (again.runs_created, again.runs_skipped) == (0, 2)
    assert (again.versions_created, again.versions_skipped) == (0, 1)
    assert len(ml.search_runs([exp.experiment_id])) == 2


def _mlflow_history(ml: Any, tmp_path: Path) -> dict[str, str]:
    from mlflow.entities import Metric, Param

    exp = ml.create_experiment("Legacy Exp/2024")
    run = ml.create_run(exp, run_name="old run", tags={"owner": "ana"})
    rid = run.info.run_id
    ml.log_batch(rid, metrics=[Metric("rmse", 10 - s, 1_700_000_000_000 + s, s)
                               for s in range(10)], params=[Param("depth", "7")])
    notes = tmp_path / "notes.txt"
    notes.write_text("kept")
    ml.log_artifact(rid, str(notes))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (model_dir / "model.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    ml.log_artifacts(rid, str(model_dir), "model")
    ml.set_terminated(rid, "FINISHED")
    bare = ml.create_run(exp, run_name="bare")  # no metrics, still RUNNING
    ml.create_registered_model("legacy")
    ml.create_model_version("legacy", f"runs:/{rid}/model", run_id=rid)
    ml.set_registered_model_alias("legacy", "champion", "1")
    return {"run": rid, "bare": bare.info.run_id}


def test_import_round_trip_and_idempotence(mlflow_client: Any, uri: str,
                                           tmp_path: Path) -> None:
    ml = mlflow_client(uri, registry_uri=uri)
    ids = _mlflow_history(ml, tmp_path)
    report = nbmlops.import_mlflow(uri)
    assert (report.runs_created, report.versions_created) == (2, 1), str(report)
    assert any("no metrics" in p for p in report.problems)
    assert any("RUNNING" in p for p in report.problems)
    frame = nbmlops.runs(experiment="Legacy-Exp-2024")
    assert sorted(frame["name"]) == ["bare", "old-run"]
    run_id = frame.loc[frame["name"] == "old-run", "run_id"].item()
    run = nbmlops.get_run(run_id)
    assert run.params == {"depth": "7"} and run.tags["owner"] == "ana"
    assert run.tags["mlflow.run_id"] == ids["run"]
    assert list(run.metric_history("rmse")["value"]) == [10.0 - s for s in range(10)]
    assert run.load_artifact("notes.txt") == b"kept"
    mv = nbmlops.get_model_version("legacy@champion")
    assert mv.unsafe and mv.run_id == run_id
    with pytest.raises(UnsafeModelError):
        nbmlops.load_model("legacy@champion")
    assert nbmlops.load_model("legacy@champion", unsafe_pickle=True) == {"weights": [1, 2, 3]}

    again = nbmlops.import_mlflow(uri)
    assert (again.runs_created, again.runs_skipped, again.versions_created) == (0, 2, 0)
    assert len(nbmlops.runs()) == 2


def test_unknown_experiment_is_refused_and_nothing_stored(mlflow_client: Any, uri: str,
                                                          tmp_path: Path) -> None:
    ml = mlflow_client(uri, registry_uri=uri)
    _mlflow_history(ml, tmp_path)
    with pytest.raises(ValidationError, match="no experiment 'nope'.*Legacy Exp/2024"):
        nbmlops.import_mlflow(uri, experiment="nope")
    assert nbmlops.store_info().runs == 0


def test_cli_export_then_import_through_the_entry_point(mlflow_client: Any,
                                                        tmp_path: Path) -> None:
    from tests.cli.test_runs import cli

    _nbmlops_history()
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    out = cli("export", "mlflow", "--to", uri, "--models")
    assert out.returncode == 0, out.stderr
    assert "2 runs created" in out.stdout and "1 model versions created" in out.stdout
    bad = cli("import", "mlflow", "--from", uri, "--experiment", "missing")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_damaged_mlflow_runs_are_reported_not_fatal(mlflow_client: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A file store with an unreadable meta.yaml and a garbled metric file: MLflow's own
    listing fails on the first; both are skipped and named, the healthy run comes in."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    ml = mlflow_client(uri)
    exp = ml.create_experiment("Damaged")
    ids = []
    for i in range(3):
        run = ml.create_run(exp, run_name=f"r{i}")
        ml.log_metric(run.info.run_id, "m", float(i))
        ml.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    folder = tmp_path / "mlruns" / exp
    (folder / ids[1] / "meta.yaml").write_text("{{{ not yaml")
    (folder / ids[2] / "metrics" / "m").write_text("garbage line\n")

    report = nbmlops.import_mlflow(uri)
    assert (report.runs_created, report.runs_skipped) == (1, 0), str(report)
    for damaged in ids[1:]:
        assert any(damaged in p and "damaged and was skipped" in p for p in report.problems)
    frame = nbmlops.runs()
    assert list(frame["name"]) == ["r0"] and list(frame["metrics.m"]) == [0.0]
    again = nbmlops.import_mlflow(uri)  # still idempotent around the damaged runs
    assert (again.runs_created, again.runs_skipped) == (0, 1)
    assert len(nbmlops.runs()) == 1


def test_import_brings_mlflow_3_logged_models(mlflow_client: Any, uri: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3's usual path: log_model(name=...) keeps the model outside the run's
    artifacts (version source ``models:/m-...``), saved with skops: the import copies it
    into the run and registers it as a safe scikit-learn model."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 4})
    model = LogisticRegression().fit(X, (X["a"] > 9).astype(int))
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is relative to the cwd
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.set_experiment("m3")
        with mlflow.start_run(run_name="fit") as mlrun:
            mlflow.log_metric("acc", 0.95)
            info = mlflow.sklearn.log_model(model, name="clf", registered_model_name="m3model")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert str(mlflow_client(uri, registry_uri=uri).get_model_version("m3model", "1")
               .source).startswith("models:/")
    report = nbmlops.import_mlflow(uri)
    assert report.versions_created == 1, str(report)
    mv = nbmlops.get_model_version("m3model/1")
    assert not mv.unsafe and mv.flavor == "sklearn"
    assert nbmlops.get_run(mv.run_id).tags["mlflow.run_id"] == mlrun.info.run_id
    loaded = nbmlops.load_model("m3model/1")  # skops under the trust policy: no unpickling
    assert (loaded.predict(X) == model.predict(X)).all()
    assert mv.artifact_name.startswith(f"mlflow-models/{info.model_id}/")
    again = nbmlops.import_mlflow(uri)
    assert (again.versions_created, again.versions_skipped) == (0, 1)


def test_exported_sklearn_models_load_in_mlflow_and_come_back(
        mlflow_client: Any, uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exported scikit-learn version is an MLflow model folder (MLmodel + skops):
    MLflow's pyfunc loads it, and importing it into another store gives a safe model."""
    import mlflow.pyfunc

    from nbmlops import store

    _nbmlops_history()
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 4})
    want = nbmlops.load_model("churn/1").predict(X)
    nbmlops.export_mlflow(uri, models=True)
    mv = mlflow_client(uri, registry_uri=uri).get_model_version_by_alias("churn", "staging")
    assert mv.source.endswith("/mlflow-models/churn-1")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        got = mlflow.pyfunc.load_model(f"models:/churn/{mv.version}").predict(X)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert (np.asarray(got) == want).all()
    monkeypatch.setenv("NBMLOPS_HOME", str(tmp_path / "other" / ".nbmlops"))
    store.reset()
    report = nbmlops.import_mlflow(uri)
    assert report.versions_created == 1, str(report)
    back = nbmlops.get_model_version("churn@staging")
    assert back.flavor == "sklearn" and not back.unsafe
    assert (nbmlops.load_model("churn@staging").predict(X) == want).all()


def test_round_trips_to_the_same_store_create_no_duplicates(mlflow_client: Any, uri: str,
                                                            tmp_path: Path) -> None:
    """Import then export back to the same MLflow, and export then import back into the
    same nbmlops store: each direction recognises the other's runs and versions."""
    ml = mlflow_client(uri, registry_uri=uri)
    _mlflow_history(ml, tmp_path)
    nbmlops.import_mlflow(uri)
    back = nbmlops.export_mlflow(uri, models=True)
    assert (back.runs_created, back.versions_created) == (0, 0), str(back)
    assert back.runs_skipped == 2 and back.versions_skipped == 1
    assert len(ml.search_model_versions("name = 'legacy'")) == 1
    ours = _nbmlops_history()  # runs born here, exported, then imported back
    nbmlops.export_mlflow(uri, models=True)
    again = nbmlops.import_mlflow(uri)
    assert (again.runs_created, again.versions_created) == (0, 0), str(again)
    assert nbmlops.get_run(ours["run"]).id == ours["run"]
    assert len(nbmlops.runs()) == 4 and len(nbmlops.list_versions("churn")) == 1
