"""Export nbmlops runs and registered models to an MLflow tracking store."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nbmlops.interop.mlflow_client import (
    ML_TAG,
    NB_TAG,
    all_runs,
    client,
    experiment_id,
    mlflow_errors,
)
from nbmlops.interop.report import TransferReport

_STATUS = {"RUNNING": "RUNNING", "FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}


def _ms(dt: Any) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


def _exported(ml: Any, exp_id: str) -> dict[str, str]:
    """Return {nbmlops run id: MLflow run id} of runs already exported to ``exp_id``."""
    runs = all_runs(ml, [exp_id], f"tags.`{NB_TAG}` != ''")
    return {r.data.tags[NB_TAG]: r.info.run_id for r in runs if NB_TAG in r.data.tags}


def _metrics(run: Any) -> list[Any]:
    from mlflow.entities import Metric

    out: list[Any] = []
    for key in sorted(run.metrics):
        hist = run.metric_history(key)
        out.extend(Metric(key, float(v), _ms(ts) or 0, int(step))
                   for step, v, ts in zip(hist["step"], hist["value"], hist["timestamp"],
                                          strict=True))
    return out


def _log_values(ml: Any, mlid: str, run: Any) -> None:
    from mlflow.entities import Param, RunTag

    params = [Param(k, v if isinstance(v, str) else repr(v) if v is None else str(v))
              for k, v in sorted(run.params.items())]
    tags = [RunTag(k, v) for k, v in sorted(run.tags.items()) if not k.startswith("mlflow.")]
    metrics = _metrics(run)
    for lo in range(0, max(len(metrics), 1), 1000):  # MLflow takes 1000 metrics per batch
        ml.log_batch(mlid, metrics=metrics[lo:lo + 1000],
                     params=params if lo == 0 else [], tags=tags if lo == 0 else [])


def _log_artifacts(ml: Any, mlid: str, run: Any, report: TransferReport) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for info in run.artifacts:
            try:
                data = run.load_artifact(info.name)
            except Exception as exc:  # a damaged blob is reported, the run still goes
                report.problems.append(f"run {run.id}: artifact {info.name!r} skipped ({exc})")
                continue
            path = Path(tmp) / info.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            parent = str(Path(info.name).parent)
            ml.log_artifact(mlid, str(path), None if parent == "." else parent)


def _export_run(ml: Any, exp_id: str, run: Any, report: TransferReport) -> str:
    rec = run.record
    created = ml.create_run(exp_id, start_time=_ms(rec.start_time), run_name=run.name,
                            tags={NB_TAG: run.id})
    mlid = str(created.info.run_id)
    _log_values(ml, mlid, run)
    _log_artifacts(ml, mlid, run, report)
    ml.set_terminated(mlid, _STATUS.get(rec.status.value, "FINISHED"),
                      end_time=_ms(rec.end_time))
    return mlid


#: where an exported scikit-learn version's MLflow model folder goes in its MLflow run
MODEL_FOLDER = "mlflow-models"


def _mlflow_model_folder(ml: Any, mlrun: str, mv: Any) -> str | None:
    """Log ``mv`` as an MLflow model folder (MLmodel + its skops file) in run ``mlrun``.

    Only scikit-learn versions: nbmlops stores them with skops, which MLflow's sklearn
    flavor reads (``serialization_format: skops``), so ``mlflow.pyfunc.load_model`` and
    ``mlflow models serve`` use them and nothing is unpickled. Returns the folder's
    artifact path, or None for other flavors (their file is exported as it is).
    """
    if mv.flavor != "sklearn":
        return None
    import platform

    import mlflow
    import sklearn
    import yaml

    import nbmlops

    folder = f"{MODEL_FOLDER}/{mv.name}-{mv.version}"
    mlmodel = {
        "artifact_path": folder,
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.skops",
                                "predict_fn": "predict",
                                "python_version": platform.python_version()},
            "sklearn": {"pickled_model": "model.skops", "serialization_format": "skops",
                        "sklearn_version": sklearn.__version__, "code": None,
                        "skops_trusted_types": None},
        },
        "mlflow_version": mlflow.__version__,
        "run_id": mlrun,
    }
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "model"
        local.mkdir()
        (local / "model.skops").write_bytes(
            nbmlops.get_run(mv.run_id).load_artifact(mv.artifact_name))
        (local / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
        ml.log_artifacts(mlrun, str(local), folder)
    return folder


def _export_models(ml: Any, run_map: dict[str, str], report: TransferReport) -> None:
    import nbmlops
    from nbmlops.registry.aliases import model_aliases

    for name in nbmlops.list_models()["name"]:
        if not ml.search_registered_models(f"name = '{name}'"):
            ml.create_registered_model(name)
        there = ml.search_model_versions(f"name = '{name}'")
        done = {v.tags.get("nbmlops.version"): v.version for v in there}
        # versions imported from there: (MLflow version number, MLflow run id)
        imported = {(str(v.version), v.run_id) for v in there}
        numbers: dict[int, str] = {}
        for version in sorted(nbmlops.list_versions(name)["version"]):
            mv = nbmlops.get_model_version(f"{name}/{version}")
            mlrun = run_map.get(mv.run_id)
            origin = mv.tags.get("mlflow.version")
            if str(version) in done or (origin, mlrun) in imported:
                numbers[version] = str(done.get(str(version), origin))
                report.versions_skipped += 1
                continue
            if mlrun is None:
                report.problems.append(f"{name}/{version}: its run {mv.run_id} was not exported")
                continue
            folder = _mlflow_model_folder(ml, mlrun, mv) or mv.artifact_name
            created = ml.create_model_version(
                name, f"runs:/{mlrun}/{folder}", run_id=mlrun,
                tags={"nbmlops.version": str(version), "nbmlops.flavor": mv.flavor},
                description=mv.description)
            numbers[version] = str(created.version)
            report.versions_created += 1
        for alias, version in model_aliases(name).items():
            if version in numbers:
                ml.set_registered_model_alias(name, alias, numbers[version])


def export_mlflow(to: str, *, experiment: str | None = None,
                  models: bool = False) -> TransferReport:
    """Write nbmlops runs (and registered models) into an MLflow tracking store.

    Parameters
    ----------
    to : str
        The MLflow tracking URI (``sqlite:///mlflow.db``, ``file:///…/mlruns``, a server).
    experiment : str, optional
        Only this experiment's runs; every experiment by default.
    models : bool
        Also export registered models, their versions and aliases.

    Returns
    -------
    TransferReport
        Runs and versions created and skipped (already exported: running it twice
        creates no duplicates) and problems reported instead of failing.

    Raises
    ------
    MissingDependencyError
        mlflow is not installed.
    """
    ml = client(to)
    with mlflow_errors(to):
        return _export(ml, to, experiment, models)


def _origin_in(ml: Any, mlflow_run_id: str | None) -> str | None:
    """Return ``mlflow_run_id`` if that run is in the target MLflow store, else None."""
    if not mlflow_run_id:
        return None
    try:
        return str(ml.get_run(mlflow_run_id).info.run_id)
    except Exception:  # MlflowException (not found) or a malformed id: not there
        return None


def _export(ml: Any, to: str, experiment: str | None, models: bool) -> TransferReport:
    import nbmlops

    report = TransferReport("export to", to)
    names = [experiment] if experiment else nbmlops.experiments()
    run_map: dict[str, str] = {}
    for exp in names:
        exp_id = experiment_id(ml, exp)
        already = _exported(ml, exp_id)
        run_map.update(already)
        frame = nbmlops.runs(experiment=exp)
        for run_id in frame["run_id"]:
            if run_id in already:
                report.runs_skipped += 1
                continue
            run = nbmlops.get_run(run_id)
            origin = _origin_in(ml, run.tags.get(ML_TAG))
            if origin is not None:  # imported from this MLflow: it is there already
                run_map[run_id] = origin
                report.runs_skipped += 1
                continue
            run_map[run_id] = _export_run(ml, exp_id, run, report)
            report.runs_created += 1
    if models:
        for exp in set(nbmlops.experiments()) - set(names):  # versions' runs elsewhere
            found = ml.get_experiment_by_name(exp)
            if found is not None:
                run_map.update(_exported(ml, str(found.experiment_id)))
        _export_models(ml, run_map, report)
    return report
