"""Convert a model version to ONNX once, verify it, and keep it with the version.

The conversion (skl2onnx: seconds for a forest) and its verification against
scikit-learn run once per model version, in the background after the version's
first deploy (``--runtime onnx`` waits for it). The outcome is recorded in the
version's meta under ``"onnx"``:

* ``{"status": "verified", "sha256", "size", "dtype", "rows", ...}``: the ONNX bytes
  are a blob of the artifact store, hash-checked when read like every artifact;
* ``{"status": "failed", "reason", ...}``: conversion failed, onnxruntime could not
  load it, it disagreed with scikit-learn, or there was nothing to check it on. Such a
  version keeps serving with scikit-learn and ``/version`` says why.

Verification rows: the version's input example, rows drawn from the statistics of
the training dataset (matched by column name, or by position when the model was
fitted on an unnamed array of the same width), or rows around the example.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from nbmlops.errors import DeployError, NbmlopsError
from nbmlops.serving.runtime import (
    OnnxRuntime,
    SklearnRuntime,
    compare,
    convert_to_onnx,
    model_allows_nan,
)
from nbmlops.serving.validation import Batch, InputSchema, PayloadError, validate

if TYPE_CHECKING:
    from nbmlops.registry.versions import ModelVersion

log = logging.getLogger("nbmlops.serving")

META_KEY = "onnx"
VERIFIED = "verified"
FAILED = "failed"

_spawned: list[Any] = []  # converter processes started here (kept so they get reaped)


def schema_of(meta: dict[str, Any], model: Any) -> InputSchema:
    """Return the input schema a served version validates against."""
    return InputSchema.from_signature(
        meta.get("signature") or meta.get("flavor_signature"),
        n_features=getattr(model, "n_features_in_", None), allow_nan=model_allows_nan(model),
        example=meta.get("input_example"))


def samples_for(schema: InputSchema, stats: list[dict[str, Any]]) -> list[Batch]:
    """Return the batches to compare runtimes on: the example, then the reference rows."""
    from nbmlops.serving.reference import example_columns, reference_columns

    reference = reference_columns(schema, stats)
    if reference is None and schema.columns is not None:
        reference = reference_columns(schema, _by_position(schema, stats))
    out = []
    for cols in (example_columns(schema), reference):
        if cols:
            try:
                out.append(validate(cols, schema))
            except PayloadError as exc:
                log.warning("skipping a check sample that does not fit the signature: %s", exc)
    return out


def _by_position(schema: InputSchema, stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rename a dataset's columns to the schema's when only the width matches (``f0..fN``)."""
    names = list(schema.columns or ())
    out = []
    for st in stats:
        cols = st.get("columns") or {}
        if len(cols) == len(names):
            out.append({**st, "columns": dict(zip(names, cols.values(), strict=True))})
    return out


def recorded(meta: dict[str, Any]) -> dict[str, Any] | None:
    """Return the recorded ONNX outcome of a version, or None when it was never tried."""
    rec = meta.get(META_KEY)
    return rec if isinstance(rec, dict) and rec.get("status") in (VERIFIED, FAILED) else None


def convert_and_verify(model: Any, schema: InputSchema,
                       samples: list[Batch]) -> tuple[OnnxRuntime, bytes, str, int]:
    """Return (runtime, ONNX bytes, dtype name, rows checked); raise DeployError if unusable."""
    if schema.columns is None:
        raise DeployError("the model has no recorded signature, so its inputs are unknown")
    if any(k not in "fin" for k in schema.kinds):
        raise DeployError("only all-numeric inputs are converted to ONNX")
    if not samples:
        raise DeployError("no input example or training-data statistics to check ONNX "
                          "predictions on")
    data, dtype = convert_to_onnx(model, len(schema.columns))
    sk = SklearnRuntime(model, schema)
    try:
        onnx = OnnxRuntime(data, dtype, sk.classes)
    except Exception as exc:  # onnxruntime rejects some converted graphs
        raise DeployError(f"onnxruntime cannot load the converted model: {exc}") from exc
    problem = compare(sk, onnx, samples)
    if problem:
        raise DeployError(f"onnxruntime disagrees with scikit-learn: {problem}")
    return onnx, data, dtype.__name__, sum(b.n_rows for b in samples)


def convert_version(mv: ModelVersion, model: Any | None = None) -> dict[str, Any]:
    """Convert and verify ``mv`` once; store the ONNX blob, record the outcome; return it."""
    from nbmlops.registry.versions import _registry, load_model
    from nbmlops.serving.reference import dataset_stats

    t0 = time.perf_counter()
    versions: dict[str, Any] = {}
    try:
        import skl2onnx

        versions["skl2onnx"] = skl2onnx.__version__
    except ImportError:
        pass
    reg, artifacts = _registry()
    try:
        if model is None:
            model = load_model(mv.ref)
        schema = schema_of(mv.meta, model)
        try:
            stats = dataset_stats(mv.run_id)
        except NbmlopsError:
            stats = []
        _, data, dtype, rows = convert_and_verify(model, schema, samples_for(schema, stats))
        sha, size = artifacts.put_bytes(data)
        rec = {"status": VERIFIED, "sha256": sha, "size": size, "dtype": dtype, "rows": rows}
    except DeployError as exc:
        rec = {"status": FAILED, "reason": str(exc)}
    except Exception as exc:  # skl2onnx and onnxruntime raise anything: record, never crash
        rec = {"status": FAILED, "reason": f"{type(exc).__name__}: {exc}"}
    rec.update(versions, seconds=round(time.perf_counter() - t0, 3), at=time.time())
    reg.update_meta(mv.name, mv.version, {META_KEY: rec})
    log.info("ONNX for %s: %s", mv.ref, rec.get("reason") or f"verified on {rec['rows']} rows")
    return rec


def load_verified(rec: dict[str, Any], classes: list[Any] | None) -> OnnxRuntime:
    """Return the onnxruntime session of a verified record (bytes hash-checked on read)."""
    import numpy as np

    from nbmlops.registry.versions import _registry

    _, artifacts = _registry()
    return OnnxRuntime(artifacts.get_bytes(rec["sha256"]), np.dtype(rec["dtype"]).type, classes)


def convert_in_background(mv: ModelVersion, model: Any) -> int | None:
    """Fork a low-priority child that converts ``mv`` (``model`` already loaded); return its pid.

    Call only while the process is single-threaded (before the server starts). The
    child stays in the server's process group, so stopping the server stops it too.
    """
    if not hasattr(os, "fork"):
        return spawn_converter(mv.ref)
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.nice(10)
        _after_fork()
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        with threadpool_limits(1):  # OpenMP pools do not survive fork: stay single-threaded
            convert_version(mv, model)
        code = 0
    except BaseException as exc:  # the child must never return into the server's code
        print(f"ONNX conversion of {mv.ref} failed: {exc}", file=sys.stderr)
    finally:
        os._exit(code)


def spawn_converter(ref: str) -> int:
    """Start ``python -m nbmlops.serving.convert REF`` (same process group); return its pid."""
    import subprocess

    for p in [p for p in _spawned if p.poll() is not None]:
        _spawned.remove(p)
    proc = subprocess.Popen([sys.executable, "-m", "nbmlops.serving.convert", ref],
                            stdin=subprocess.DEVNULL)
    _spawned.append(proc)
    return proc.pid


def _after_fork() -> None:
    """Give a forked child its own database connections (never the parent's sockets)."""
    from nbmlops import store

    for meta, _ in list(store._cache.values()):
        meta.engine.dispose(close=False)


def main(argv: list[str] | None = None) -> int:
    """Convert and verify one version (``python -m nbmlops.serving.convert name/3``)."""
    from nbmlops.registry.versions import get_model_version

    args = sys.argv[1:] if argv is None else argv
    try:
        os.nice(10)
    except OSError:
        pass
    rec = convert_version(get_model_version(args[0]))
    print(f"{args[0]}: ONNX {rec['status']}{': ' + rec['reason'] if 'reason' in rec else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
