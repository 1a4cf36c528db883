"""Import an MLflow history (runs, metric history, artifacts, registered models)."""

from __future__ import annotations

import mimetypes
import re
import tempfile
from pathlib import Path
from typing import Any

from nbmlops.errors import NbmlopsError
from nbmlops.interop.mlflow_client import ML_TAG, NB_TAG, all_runs, client, mlflow_errors
from nbmlops.interop.report import TransferReport

#: MLflow statuses an nbmlops run can hold; a run still RUNNING there is not alive here
_STATUS = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}


def _safe(name: str, default: str) -> str:
    """Return ``name`` made a valid nbmlops name (``[A-Za-z0-9._-]``, 250 characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:250] or default


def _store_artifacts(ml: Any, mlrun: str, run: Any, report: TransferReport) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            root = Path(ml.download_artifacts(mlrun, "", tmp))
        except Exception as exc:  # an unknown or unreachable artifact location
            report.problems.append(f"MLflow run {mlrun}: artifacts not imported ({exc})")
            return
        _put_tree(root, run, "")


def _put_tree(root: Path, run: Any, prefix: str) -> None:
    """Store every file under ``root`` as an artifact of ``run`` named ``prefix`` + its path."""
    from nbmlops.entities import ArtifactInfo

    models = {p.parent for p in root.rglob("MLmodel")}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = prefix + path.relative_to(root).as_posix()
        sha, size = run._artifacts.put_file(path)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        in_model = any(m in path.parents for m in models)
        meta = _MODEL_FILES.get(path.suffix) if in_model else None
        run._store.add_artifact(run.id, ArtifactInfo(name, sha, size, media), meta)


#: the meta of a model file inside an MLflow model folder (one with an MLmodel), by suffix
_PICKLED = {"mlflow_model": True, "flavor": "pickle", "unsafe": True,
            "unsafe_reason": "pickled by MLflow; unpickling runs arbitrary code"}
_MODEL_FILES: dict[str, dict[str, Any]] = {
    ".pkl": _PICKLED,  # kept, marked unsafe, never loaded by nbmlops unless asked
    ".pickle": _PICKLED,
    # MLflow 3's default for scikit-learn: safe, loaded by skops under the trust policy
    ".skops": {"mlflow_model": True, "flavor": "sklearn"},
}


def _logged_model_folder(ml: Any, uri: str, source: str, run_id: str) -> str:
    """Copy an MLflow 3 logged model (source ``models:/m-ID``) into the imported run.

    MLflow 3 keeps a model logged with ``log_model(..., name=...)`` outside its run's
    artifacts, so importing the run does not bring it: its files are stored under
    ``mlflow-models/ID/`` of the run (once) and that folder is returned.
    """
    import mlflow.artifacts

    from nbmlops.store import open_store
    from nbmlops.tracking.run import Run

    model_id = source[len("models:/"):].strip("/").split("/")[0]
    folder = f"mlflow-models/{model_id}"
    store, artifacts = open_store()
    if any(a.name.startswith(folder + "/") for a in store.list_artifacts(run_id)):
        return folder
    location = ml.get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp,
                                                        tracking_uri=uri))
        _put_tree(root, Run(store.get_run(run_id), store, artifacts), folder + "/")
    return folder


def _import_run(ml: Any, mlrun: Any, experiment: str, report: TransferReport) -> str:
    from nbmlops.entities import RunStatus
    from nbmlops.store import open_store
    from nbmlops.tracking.run import Run
    from nbmlops.tracking.values import encode_param

    store, artifacts = open_store()
    info, data = mlrun.info, mlrun.data
    # read every metric history before writing, so a damaged run writes nothing
    history = {key: ml.get_metric_history(info.run_id, key) for key in data.metrics}
    rec = store.create_run(_safe(experiment, "mlflow"),
                           _safe(info.run_name or info.run_id, "mlflow-run"))
    store.log_params(rec.id, {k: encode_param(k, v) for k, v in data.params.items()})
    store.log_metric_rows([(rec.id, key, float(m.value), int(m.step), m.timestamp / 1000)
                           for key, points in history.items() for m in points])
    store.set_tags(rec.id, {**{k: v for k, v in data.tags.items()
                               if not k.startswith("mlflow.")}, ML_TAG: info.run_id})
    if not data.metrics:
        report.problems.append(f"MLflow run {info.run_id} has no metrics")
    _store_artifacts(ml, info.run_id, Run(rec, store, artifacts), report)
    status = _STATUS.get(info.status)
    if status is None:
        report.problems.append(f"MLflow run {info.run_id} was {info.status}; imported as KILLED")
    store.update_run(rec.id, status=RunStatus(status or "KILLED").value, pid=None,
                     start_time=info.start_time / 1000,
                     end_time=(info.end_time or info.start_time) / 1000)
    return str(rec.id)


def _import_models(ml: Any, uri: str, run_map: dict[str, str],
                   report: TransferReport) -> None:
    import nbmlops
    from nbmlops.registry.aliases import model_aliases, set_alias

    for rm in ml.search_registered_models():
        local = _versions(rm.name)
        known = {v.tags.get("mlflow.version") for v in local}
        # versions this store exported there: (our version number, our run id)
        exported = {(str(v.version), v.run_id) for v in local}
        for mv in sorted(ml.search_model_versions(f"name = '{rm.name}'"),
                         key=lambda v: int(v.version)):
            ours = run_map.get(mv.run_id or "")
            if str(mv.version) in known or (mv.tags.get("nbmlops.version"), ours) in exported:
                report.versions_skipped += 1
                continue
            if ours is None:
                report.problems.append(f"{rm.name} v{mv.version}: its run "
                                       f"({mv.run_id or 'none'}) was not imported; "
                                       "version skipped")
                continue
            folder = _model_folder(mv.source)
            if mv.source.startswith("models:/"):
                try:
                    folder = _logged_model_folder(ml, uri, mv.source, ours)
                except Exception as exc:  # an unknown or unreachable artifact location
                    report.problems.append(f"{rm.name} v{mv.version}: its logged model "
                                           f"{mv.source} could not be read "
                                           f"({_first_line(exc)}); version skipped")
                    continue
            art = _model_artifact(ours, folder)
            if art is None:
                report.problems.append(f"{rm.name} v{mv.version}: no scikit-learn (skops) or "
                                       f"pickled model under {mv.source}; version skipped")
                continue
            nbmlops.register_model(rm.name, run=ours, model=art, description=mv.description,
                                   tags={"mlflow.version": str(mv.version)})
            report.versions_created += 1
        if _has_model(rm.name):
            numbers = {v.tags.get("mlflow.version"): v.version for v in _versions(rm.name)}
            for alias, version in (getattr(rm, "aliases", None) or {}).items():
                ours_v = numbers.get(str(version))
                if ours_v is not None and model_aliases(rm.name).get(alias) != ours_v:
                    set_alias(rm.name, alias, ours_v, reason="imported from MLflow")


def _has_model(name: str) -> bool:
    import nbmlops

    models = nbmlops.list_models()
    return len(models) > 0 and name in set(models["name"])


def _versions(name: str) -> list[Any]:
    import nbmlops

    if not _has_model(name):
        return []
    return [nbmlops.get_model_version(f"{name}/{v}")
            for v in nbmlops.list_versions(name)["version"]]


def _model_folder(source: str) -> str:
    """Return the artifact folder of a model version's source (``runs:/ID/model`` -> model)."""
    if source.startswith("runs:/"):
        return source[len("runs:/"):].split("/", 1)[-1].strip("/")
    if "/artifacts/" in source:
        return source.split("/artifacts/", 1)[-1].strip("/")
    return Path(source).name


def _model_artifact(run_id: str, folder: str) -> str | None:
    """Return the imported run's model file under ``folder`` (skops or pickle), if any."""
    import nbmlops
    from nbmlops.store import open_store

    prefix = folder + "/"
    store, _ = open_store()
    for info in nbmlops.get_run(run_id).artifacts:
        if not info.name.startswith(prefix) or Path(info.name).suffix not in _MODEL_FILES:
            continue
        _, meta = store.get_artifact(run_id, info.name)
        if meta.get("mlflow_model"):
            if "flavor" not in meta:  # imported before flavors were recorded at import
                store.add_artifact(run_id, info, {**meta, "flavor": "pickle"})
            return str(info.name)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _listed_runs(ml: Any, source: str, exp_id: str, report: TransferReport) -> list[Any]:
    """Return the runs of an MLflow experiment, skipping (and reporting) damaged ones.

    MLflow's own listing fails as a whole on one damaged run of a file store (its
    ``meta.yaml`` unreadable); then each run folder is read on its own.
    """
    try:
        return all_runs(ml, [exp_id])
    except Exception as exc:  # whatever MLflow raises on a damaged run
        folder = _file_store(source)
        if folder is None or not (folder / exp_id).is_dir():
            report.problems.append(f"MLflow experiment {exp_id}: its runs could not be "
                                   f"listed and none were imported ({_first_line(exc)})")
            return []
    runs = []
    for run_dir in sorted((folder / exp_id).iterdir()):
        if not (run_dir.is_dir() and re.fullmatch(r"[0-9a-f]{32}", run_dir.name)):
            continue
        try:
            runs.append(ml.get_run(run_dir.name))
        except Exception as exc:  # as above, one run at a time
            report.problems.append(f"MLflow run {run_dir.name} is damaged and was skipped "
                                   f"({_first_line(exc)})")
    return runs


def _file_store(source: str) -> Path | None:
    """Return the folder of an MLflow file store URI, or None for other stores."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    if source.startswith("file:"):
        return Path(url2pathname(urlparse(source).path))
    return Path(source) if "://" not in source and ":" not in source[:3] else None


def import_mlflow(source: str, *, experiment: str | None = None,
                  models: bool = True) -> TransferReport:
    """Bring an MLflow history into the nbmlops store.

    Parameters
    ----------
    source : str
        The MLflow tracking URI to read (``sqlite:///mlflow.db``, ``file:///…/mlruns``).
    experiment : str, optional
        Only this MLflow experiment; every experiment by default.
    models : bool
        Also import registered models and aliases; MLflow-pickled models come in as
        explicitly unsafe versions that load only with ``unsafe_pickle=True``.

    Returns
    -------
    TransferReport
        Runs and versions created and skipped (running it twice creates no duplicates)
        and what was reported instead of failing (missing artifacts, runs without
        metrics, runs still RUNNING in MLflow).

    Raises
    ------
    MissingDependencyError
        mlflow is not installed.
    ValidationError
        The named experiment does not exist in MLflow.
    """
    ml = client(source)
    with mlflow_errors(source):
        return _import(ml, source, experiment, models)


def _ours(store: Any, run_id: str | None) -> str | None:
    """Return ``run_id`` if that nbmlops run is in this store, else None."""
    from nbmlops.errors import RunNotFound

    if not run_id:
        return None
    try:
        return str(store.get_run(run_id, reap=False).id)
    except RunNotFound:
        return None


def _import(ml: Any, source: str, experiment: str | None, models: bool) -> TransferReport:
    from nbmlops.errors import ValidationError
    from nbmlops.store import open_store

    report = TransferReport("import from", source)
    if experiment:
        found = ml.get_experiment_by_name(experiment)
        if found is None:
            names = [e.name for e in ml.search_experiments()]
            raise ValidationError(f"MLflow at {source} has no experiment {experiment!r}; "
                                  f"it has: {', '.join(names) or 'none'}")
        exps = [found]
    else:
        exps = ml.search_experiments()
    store, _ = open_store()
    done = store.tag_index(ML_TAG)
    run_map = dict(done)
    for exp in exps:
        for mlrun in _listed_runs(ml, source, str(exp.experiment_id), report):
            if mlrun.info.run_id in done:
                report.runs_skipped += 1
                continue
            ours = _ours(store, mlrun.data.tags.get(NB_TAG))
            if ours is not None:  # exported from this store: it is here already
                run_map[mlrun.info.run_id] = ours
                report.runs_skipped += 1
                continue
            try:
                run_map[mlrun.info.run_id] = _import_run(ml, mlrun, exp.name, report)
            except NbmlopsError:
                raise  # our own store failing is fatal; it was left as it was
            except Exception as exc:  # MLflow reading a damaged run (bad
                # YAML, a garbled metric file): raised before anything was written
                report.problems.append(f"MLflow run {mlrun.info.run_id} is damaged and was "
                                       f"skipped ({_first_line(exc)})")
                continue
            report.runs_created += 1
    if models:
        _import_models(ml, source, run_map, report)
    return report
