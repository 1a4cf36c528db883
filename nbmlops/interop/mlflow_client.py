"""Open an MLflow tracking client for an export or import, with a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nbmlops.errors import MissingDependencyError, ValidationError

#: the MLflow tag that names the nbmlops run an exported run came from (and vice versa)
NB_TAG = "nbmlops.run_id"
#: the nbmlops tag that names the MLflow run an imported run came from
ML_TAG = "mlflow.run_id"


def client(uri: str) -> Any:
    """Return an ``MlflowClient`` for ``uri`` (a file store path or a database URI)."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValidationError(f"an MLflow tracking URI is needed, got {uri!r} "
                              "(e.g. sqlite:///mlflow.db, file:///path/mlruns, http://host:5000)")
    try:
        import logging

        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingDependencyError("mlflow", "mlflow") from exc
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(ml: Any, name: str) -> str:
    """Return the id of MLflow experiment ``name``, creating it if absent."""
    exp = ml.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(ml.create_experiment(name))


def all_runs(ml: Any, experiment_ids: list[str], filter_string: str = "") -> list[Any]:
    """Return every MLflow run of the experiments (paged through)."""
    out: list[Any] = []
    token = None
    while True:
        page = ml.search_runs(experiment_ids, filter_string, max_results=1000, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


@contextmanager
def mlflow_errors(uri: str) -> Iterator[None]:
    """Turn MLflow's refusals (bad URI, unreachable store) into one clear nbmlops error."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else exc
        raise ValidationError(f"MLflow at {uri} refused: {first}") from exc
