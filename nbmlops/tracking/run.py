"""The Run object: a handle on one run, its data, and (while active) logging methods."""

from __future__ import annotations

import itertools
import os
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbmlops.entities import ArtifactInfo, DatasetInfo, Provenance, RunRecord, RunStatus
from nbmlops.errors import ValidationError
from nbmlops.names import validate_artifact_name, validate_key, validate_name
from nbmlops.tracking import active
from nbmlops.tracking.buffer import get_buffer
from nbmlops.tracking.values import decode_param, encode_param, to_metric, to_tag

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.store.artifacts import ArtifactStore
    from nbmlops.store.sql import SqlStore


class Run:
    """A run: read its params/metrics/artifacts; log to it while it is active."""

    def __init__(self, record: RunRecord, store: SqlStore, artifacts: ArtifactStore) -> None:
        self._record = record
        self._store = store
        self._artifacts = artifacts
        self._steps: dict[str, itertools.count[int]] = {}

    # identity ------------------------------------------------------------
    @property
    def id(self) -> str:
        """Return the run id (uuid4 hex)."""
        return self._record.id

    @property
    def name(self) -> str:
        """Return the run name."""
        return self._record.name

    @property
    def experiment(self) -> str:
        """Return the experiment name."""
        return self._record.experiment

    @property
    def record(self) -> RunRecord:
        """Return the run's row, re-read from the store."""
        get_buffer().flush_quietly()
        self._record = self._store.get_run(self.id)
        return self._record

    @property
    def status(self) -> RunStatus:
        """Return the current status."""
        return self.record.status

    @property
    def info(self) -> RunRecord:
        """Return the run's row as last read (no store access)."""
        return self._record

    # data -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        """Return {key: value} of logged params."""
        raw = self._store.get_params([self.id])[self.id]
        return {k: decode_param(t, kind) for k, (t, kind) in sorted(raw.items())}

    @property
    def metrics(self) -> dict[str, float]:
        """Return {key: latest value} of logged metrics."""
        get_buffer().flush_quietly()
        return dict(sorted(self._store.get_latest_metrics([self.id])[self.id].items()))

    @property
    def tags(self) -> dict[str, str]:
        """Return {key: value} of tags."""
        return dict(sorted(self._store.get_tags([self.id])[self.id].items()))

    @property
    def artifacts(self) -> list[ArtifactInfo]:
        """Return the run's artifacts."""
        return self._store.list_artifacts(self.id)

    @property
    def datasets(self) -> list[DatasetInfo]:
        """Return the datasets the run read or wrote."""
        return self._store.list_datasets(self.id)

    @property
    def source(self) -> str | None:
        """Return the source code of the cell (or script) that made the run."""
        return self._record.source

    @property
    def environment(self) -> dict[str, Any]:
        """Return the recorded Python environment ({} when none was captured)."""
        h = self._record.environment_hash
        return self._store.get_environment(h) if h else {}

    @property
    def provenance(self) -> Provenance:
        """Return whether the state this run read was produced in order."""
        data = self._store.get_provenance(self.id)
        rec = self.record
        return Provenance(rec.provenance_status or "unknown", data.get("reasons", []),
                          data.get("variables", {}))

    def metric_history(self, key: str) -> pd.DataFrame:
        """Return a DataFrame (step, value, timestamp) of every value logged for ``key``."""
        import pandas as pd

        get_buffer().flush_quietly()
        rows = self._store.metric_history_rows(self.id, key)
        frame: pd.DataFrame = pd.DataFrame(
            {"step": [r[0] for r in rows], "value": [r[1] for r in rows],
             "timestamp": pd.to_datetime([r[2] for r in rows], unit="s", utc=True)}
        )
        return frame

    def load_artifact(self, name: str) -> bytes:
        """Return an artifact's bytes (hash-verified)."""
        info, _ = self._store.get_artifact(self.id, name)
        return self._artifacts.get_bytes(info.sha256)

    def load_model(self, name: str | None = None, **options: Any) -> Any:
        """Return a model of the run loaded by its flavor (never silently unpickled).

        ``name`` picks one; without it (or with ``"model"``, the default name of
        ``log_model``) the model named ``model``, else the run's only model. With several
        models and no name, ArtifactNotFound lists them.
        """
        from nbmlops.flavors.base import get_flavor

        info, meta = self.model_artifact(name)
        data = self._artifacts.get_bytes(info.sha256)
        return get_flavor(meta["flavor"]).load(data, meta, **options)

    @property
    def models(self) -> list[str]:
        """Return the names of the run's model artifacts (those saved by a flavor)."""
        return [a.name for a in self.artifacts
                if "flavor" in self._store.get_artifact(self.id, a.name)[1]]

    def model_artifact(self, name: str | None = None) -> tuple[ArtifactInfo, dict[str, Any]]:
        """Return (artifact, metadata) of the model ``load_model(name)`` loads."""
        from nbmlops.errors import ArtifactNotFound

        wanted = name or "model"
        try:
            info, meta = self._store.get_artifact(self.id, wanted)
        except ArtifactNotFound:
            models = self.models
            if wanted == "model" and len(models) == 1:
                return self._store.get_artifact(self.id, models[0])
            hint = (f"its models are: {', '.join(models)}" if models
                    else "it has no model artifacts; log one with log_model or %%track")
            raise ArtifactNotFound(f"{self.id}:{wanted}", f"run {self.name!r} has no model "
                                   f"{wanted!r}; {hint}") from None
        if "flavor" not in meta:
            raise ValidationError(f"artifact {wanted!r} of run {self.id} is not a model")
        return info, meta

    # logging ------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """Log one param."""
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Log params; a key already logged with another value raises ConflictError."""
        enc = {validate_key(k, "param"): encode_param(k, v) for k, v in params.items()}
        self._store.log_params(self.id, enc)

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Queue one metric value (written in batches; never lost at normal exit)."""
        validate_key(key, "metric")
        v = to_metric(key, value)
        if step is None:
            counter = self._steps.get(key)
            if counter is None:
                counter = self._steps[key] = itertools.count()
            step = next(counter)
        elif not isinstance(step, int) or isinstance(step, bool):
            raise ValidationError(f"step of metric {key!r} must be an int, got {step!r}")
        get_buffer().add(self._store, (self.id, key, v, step, time.time()))

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Queue several metric values; all are checked before any is queued."""
        checked = {validate_key(k, "metric"): to_metric(k, v) for k, v in metrics.items()}
        for k, v in checked.items():
            self.log_metric(k, v, step)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set tags (secrets redacted)."""
        self._store.set_tags(self.id, {validate_key(k, "tag"): to_tag(k, v)
                                       for k, v in tags.items()})

    def log_artifact(self, obj: Any, name: str | None = None) -> list[ArtifactInfo]:
        """Store a file, folder, text, bytes, figure, DataFrame or JSON-able value."""
        from nbmlops.tracking.artifact_io import to_payloads

        payloads = to_payloads(obj, name)
        for pname, _, _ in payloads:
            validate_artifact_name(pname)
        out = []
        for pname, media, source in payloads:
            sha, size = (self._artifacts.put_file(source) if isinstance(source, Path)
                         else self._artifacts.put_bytes(source))
            info = ArtifactInfo(pname, sha, size, media)
            self._store.add_artifact(self.id, info, None)
            out.append(info)
        return out

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        unsafe_pickle: bool = False,
        trusted: list[str] | None = None,
    ) -> ArtifactInfo:
        """Save ``model`` in a safe format with its input signature; return the artifact."""
        from nbmlops.flavors.base import example_records, flavor_for, infer_signature

        validate_artifact_name(name)
        flavor = flavor_for(model, unsafe_pickle=unsafe_pickle)
        data, meta = flavor.save(model, trusted=trusted)
        signature = infer_signature(input_example) or _signature_from_model(model)
        meta.update(signature=signature, input_example=example_records(input_example))
        sha, size = self._artifacts.put_bytes(data)
        info = ArtifactInfo(name, sha, size, flavor.media_type)
        self._store.add_artifact(self.id, info, meta)
        return info

    def log_dataset(self, data: Any, name: str, *, role: str = "input") -> DatasetInfo:
        """Fingerprint a DataFrame/array/file and link it to the run."""
        from dataclasses import replace

        from nbmlops.tracking.datasets import fingerprint

        validate_name(name, "dataset")
        if role not in {"input", "output"}:
            raise ValidationError(f"dataset role {role!r} must be 'input' or 'output'")
        info = replace(fingerprint(data, name), role=role)
        self._store.add_dataset(self.id, info)
        if info.kind == "dataframe":  # what monitoring compares served traffic with
            from nbmlops.monitoring.reference import store_reference

            store_reference(self._store, info.fingerprint, data)
        return info

    # lifecycle -----------------------------------------------------------------
    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush the run's metrics and mark it ended."""
        st = RunStatus.parse(status)
        buf = get_buffer()
        try:
            buf.flush()
        finally:
            buf.unwatch(self.id)
            active.remove(self.id)
            self._store.end_run(self.id, st, error)
            self._record = self._store.get_run(self.id, reap=False)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, "KeyboardInterrupt")
        else:
            self.end(RunStatus.FAILED, "".join(traceback.format_exception(exc_type, exc, tb)))

    def __repr__(self) -> str:
        return f"<Run {self.name!r} id={self.id} status={self._record.status.value}>"

    def _repr_html_(self) -> str:
        from nbmlops.tracking.card import run_card

        return run_card(self)


def _signature_from_model(model: Any) -> dict[str, Any] | None:
    """Return the signature a fitted estimator knows without an example (names, width).

    A frame's column types are not kept by the estimator: serving fills them from the
    statistics of the datasets the run read. An array-fitted estimator took float64.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return {"kind": "dataframe", "columns": [str(n) for n in names], "dtypes": []}
    n = getattr(model, "n_features_in_", None)
    if isinstance(n, int) and n > 0:
        return {"kind": "ndarray", "columns": [f"f{i}" for i in range(n)],
                "dtypes": ["float64"] * n}
    return None


def env_parent_run() -> str | None:
    """Return the parent run id a pipeline runner passed to this process, if any."""
    return os.environ.get("NBMLOPS_PARENT_RUN_ID") or None
