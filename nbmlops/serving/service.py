"""The served model: load a version (from the registry or a package folder) and hot-swap it.

A :class:`ModelService` holds one immutable :class:`LoadedModel`. Requests read
``service.current`` once and use that snapshot to the end, so swapping the
attribute (an atomic reference assignment) never disturbs a request in flight.
When the reference follows an alias, a daemon thread polls the alias; on a move it
loads and warms up the new version *before* swapping it in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nbmlops.errors import ArtifactIntegrityError, DeployError, NbmlopsError, ValidationError
from nbmlops.serving.reference import example_columns
from nbmlops.serving.runtime import (
    RUNTIMES,
    BaseRuntime,
    SklearnRuntime,
    build_runtime,
    model_allows_nan,
)
from nbmlops.serving.validation import Batch, InputSchema, PayloadError, validate

log = logging.getLogger("nbmlops.serving")

BUNDLE_FILE = "bundle.json"


@dataclass(frozen=True)
class LoadedModel:
    """One model version ready to predict: its schema, runtime and provenance."""

    name: str
    version: int
    flavor: str
    schema: InputSchema
    runtime: BaseRuntime
    runtime_reason: str
    model: Any = field(repr=False)
    signature: dict[str, Any] | None = None
    #: auto runtime, no ONNX decision recorded yet: a background conversion will decide
    onnx_pending: bool = False


def _samples(schema: InputSchema, reference: dict[str, list[Any]] | None) -> list[Batch]:
    out = []
    for cols in (example_columns(schema), reference):
        if cols:
            try:
                out.append(validate(cols, schema))
            except PayloadError as exc:
                log.warning("skipping a check sample that does not fit the signature: %s", exc)
    return out


def build_loaded(name: str, version: int, flavor: str, meta: dict[str, Any], model: Any,
                 runtime: str, reference: dict[str, list[Any]] | None) -> LoadedModel:
    """Return a LoadedModel with its runtime chosen, checked and warmed up."""
    schema = InputSchema.from_signature(
        meta.get("signature"), n_features=getattr(model, "n_features_in_", None),
        allow_nan=model_allows_nan(model), example=meta.get("input_example"))
    samples = _samples(schema, reference)
    rt, why = build_runtime(model, schema, runtime, samples)
    if samples:  # warm-up: first calls allocate; do it before taking traffic
        rt.predict(samples[0].arrays, proba=True)
    return LoadedModel(name, version, flavor, schema, rt, why, model, meta.get("signature"))


def load_from_registry(ref: str, runtime: str) -> LoadedModel:
    """Return the LoadedModel for a registry reference (``name@alias`` or ``name/3``).

    Nothing thrown away on the way: the ONNX runtime is used only when the version
    already has a verified ONNX artifact (``--runtime onnx`` converts and verifies it
    first, once); ``auto`` otherwise serves scikit-learn at once and marks the model
    ``onnx_pending`` so the server converts in the background and swaps when verified.
    """
    from nbmlops.registry.versions import get_model_version, load_model

    mv = get_model_version(ref)
    return loaded_version(mv, load_model(mv.ref), runtime)


def loaded_version(mv: Any, model: Any, runtime: str) -> LoadedModel:
    """Return the LoadedModel of a registry version whose model object is loaded."""
    from nbmlops.serving import convert
    from nbmlops.serving.reference import example_columns

    if runtime not in RUNTIMES:
        raise ValidationError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    schema = _with_training_facts(convert.schema_of(mv.meta, model), mv.run_id)
    sk = SklearnRuntime(model, schema)
    rt: BaseRuntime = sk
    why, pending = "scikit-learn (requested)", False
    if runtime != "sklearn":
        rec = convert.recorded(mv.meta)
        if rec is None and runtime == "onnx":
            rec = convert.convert_version(mv, model)
        if rec is None:
            why, pending = ("scikit-learn (the ONNX conversion runs in the background; "
                            "the server switches to onnxruntime once it is verified)"), True
        elif rec["status"] == convert.VERIFIED:
            try:
                rt = convert.load_verified(rec, sk.classes)
                why = f"onnxruntime (predictions equal scikit-learn's on {rec['rows']} rows)"
            except Exception as exc:  # a missing or altered blob: say so, keep serving
                if runtime == "onnx":
                    raise DeployError(f"the verified ONNX of {mv.ref} cannot be used: "
                                      f"{exc}") from exc
                why = f"scikit-learn (the verified ONNX cannot be used: {exc})"
        elif runtime == "onnx":
            raise DeployError(f"{mv.ref} cannot be served with onnxruntime: {rec['reason']}")
        else:
            why = f"scikit-learn ({rec['reason']})"
    example = example_columns(schema)
    if example:  # warm-up: first calls allocate; do it before taking traffic
        try:
            rt.predict(validate(example, schema).arrays, proba=True)
        except PayloadError as exc:
            log.warning("the input example does not fit the signature: %s", exc)
    return LoadedModel(mv.name, mv.version, mv.flavor, schema, rt, why, model,
                       mv.meta.get("signature"), pending)


def _with_training_facts(schema: InputSchema, run_id: str) -> InputSchema:
    """Return the schema completed from the training data's statistics.

    Missing values in a signature column of a dataset the run read make the schema take
    them; when the signature has no dtypes (a model logged without an example), they
    come from the dataset that has every signature column.
    """
    if schema.columns is None or (schema.allow_nan and any(schema.dtypes)):
        return schema
    from nbmlops.serving.reference import dataset_stats

    try:
        stats = [st.get("columns") or {} for st in dataset_stats(run_id)]
    except NbmlopsError as exc:
        log.warning("no dataset statistics for run %s: %s", run_id, exc)
        return schema
    cols = schema.columns
    if any(cs[c].get("missing") for cs in stats for c in cols if c in cs):
        schema = replace(schema, allow_nan=True)
    full = next((cs for cs in stats if all(c in cs for c in cols)), None)
    if not any(schema.dtypes) and full is not None:
        schema = replace(schema, dtypes=tuple(str(full[c].get("dtype", "")) for c in cols))
    return schema


def is_bundle(path: str | Path) -> bool:
    """Return whether ``path`` is a folder written by ``nbmlops package``."""
    return (Path(path) / "model" / BUNDLE_FILE).is_file()


def read_bundle(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """Return (bundle description, verified model bytes) of a package folder."""
    folder = Path(path) / "model"
    info = json.loads((folder / BUNDLE_FILE).read_text())
    data = (folder / info["artifact"]).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != info["sha256"]:
        raise ArtifactIntegrityError(info["sha256"], actual)
    return info, data


def load_from_bundle(path: str | Path, runtime: str) -> LoadedModel:
    """Return the LoadedModel of a package folder, without any store."""
    from nbmlops.flavors.base import get_flavor

    info, data = read_bundle(path)
    model = get_flavor(info["flavor"]).load(data, info["meta"])
    return build_loaded(info["name"], int(info["version"]), info["flavor"], info["meta"], model,
                        runtime, info.get("reference"))


class ModelService:
    """Serves one reference; follows its alias (if any) and swaps versions without downtime."""

    def __init__(self, ref: str, runtime: str = "auto", *, poll_interval: float = 1.0) -> None:
        self.ref = ref
        self.runtime = runtime
        self.poll_interval = poll_interval
        self.bundle = is_bundle(ref)
        self.follows_alias = not self.bundle and "@" in ref
        t0 = time.perf_counter()
        self.current = self._load(ref)
        #: seconds per start-up phase (``load`` here; the server adds ``start`` and ``ready``)
        self.startup: dict[str, float] = {"load": round(time.perf_counter() - t0, 3)}
        self._failed: set[int] = set()
        self._converter: int | None = None
        #: convert pending versions to ONNX in the background (the server sets it)
        self.background_conversion = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load(self, ref: str) -> LoadedModel:
        return load_from_bundle(ref, self.runtime) if self.bundle else load_from_registry(
            ref, self.runtime)

    def start_watching(self, on_swap: Callable[[LoadedModel, LoadedModel], None],
                       on_failure: Callable[[int, BaseException], None]) -> None:
        """Poll the alias in a daemon thread; call ``on_swap(old, new)`` after each swap."""
        if not (self.follows_alias or self.current.onnx_pending) or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, args=(on_swap, on_failure),
                                        name="nbmlops-alias-watch", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        """Stop the alias watcher."""
        self._stop.set()

    def _watch(self, on_swap: Callable[[LoadedModel, LoadedModel], None],
               on_failure: Callable[[int, BaseException], None]) -> None:
        while not self._stop.wait(self.poll_interval):
            self._reap_converter()
            try:
                if self.follows_alias:
                    self.check_alias(on_swap, on_failure)
                if self.current.onnx_pending:
                    self.check_onnx(on_swap)
            except Exception as exc:  # the store may be briefly unavailable; keep serving
                log.warning("could not check %s: %s", self.ref, exc)

    def convert_pending(self) -> int | None:
        """Fork the ONNX conversion of the current version if due; return the child's pid.

        Later versions (the alias moved) are converted by a separate process.

        Call before the server starts threads (the child is forked).
        """
        from nbmlops.registry.versions import get_model_version
        from nbmlops.serving.convert import convert_in_background

        cur = self.current
        self.background_conversion = True
        if not cur.onnx_pending:
            return None
        self._converter = convert_in_background(get_model_version(f"{cur.name}/{cur.version}"),
                                                cur.model)
        return self._converter

    def _reap_converter(self) -> None:
        if self._converter is None:
            return
        try:
            done, _ = os.waitpid(self._converter, os.WNOHANG)
        except ChildProcessError:  # not our child (a forked worker) or already reaped
            done = self._converter
        if done:
            self._converter = None

    def check_onnx(self, on_swap: Callable[[LoadedModel, LoadedModel], None]) -> bool:
        """Switch to onnxruntime once the pending conversion is verified; return if it did.

        A failed conversion keeps scikit-learn (and its runtime object), recording why.
        """
        from nbmlops.registry.versions import get_model_version
        from nbmlops.serving.convert import recorded

        cur = self.current
        if not cur.onnx_pending:
            return False
        mv = get_model_version(f"{cur.name}/{cur.version}")
        if recorded(mv.meta) is None:
            return False
        new = loaded_version(mv, cur.model, self.runtime)
        if new.runtime.name == cur.runtime.name:  # conversion failed: same runtime, new reason
            new = dataclasses.replace(cur, runtime_reason=new.runtime_reason, onnx_pending=False)
        if self.current is not cur:  # the alias moved meanwhile
            return False
        self.current = new
        log.info("%s/%s now runs on %s", cur.name, cur.version, new.runtime_reason)
        on_swap(cur, new)
        return True

    def check_alias(self, on_swap: Callable[[LoadedModel, LoadedModel], None],
                    on_failure: Callable[[int, BaseException], None]) -> bool:
        """Swap to the version the alias points at now, if it moved; return whether it did."""
        from nbmlops.registry.versions import resolve_version

        name, version = resolve_version(self.ref)
        old = self.current
        if version == old.version or version in self._failed:
            return False
        try:
            new = self._load(f"{name}/{version}")
        except Exception as exc:  # keep serving the old version whatever went wrong
            self._failed.add(version)
            log.error("keeping %s/%s: loading %s/%s failed: %s", name, old.version, name,
                      version, exc)
            on_failure(version, exc)
            return False
        if new.onnx_pending and self.background_conversion:  # threads run: use a process
            from nbmlops.serving.convert import spawn_converter

            spawn_converter(f"{name}/{version}")
        self.current = new
        log.info("swapped %s from version %s to %s (%s)", name, old.version, version,
                 new.runtime_reason)
        on_swap(old, new)
        return True


def load_service(ref: str, runtime: str, poll_interval: float = 1.0) -> ModelService:
    """Return a ModelService, translating load failures into one DeployError line."""
    try:
        return ModelService(ref, runtime, poll_interval=poll_interval)
    except DeployError:
        raise
    except NbmlopsError as exc:
        raise DeployError(f"cannot serve {ref}: {exc}") from exc
