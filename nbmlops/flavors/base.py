"""The flavor interface, the flavor table, and input-signature inference.

A flavor turns a model object into bytes and back. Implementers must guarantee:

* ``save`` returns ``(bytes, meta)`` where ``meta["flavor"]`` is the flavor's name and
  everything else in ``meta`` is JSON-able; it raises UnsafeModelError rather than
  writing something ``load`` would refuse.
* ``load`` never executes code from the bytes unless the flavor is explicitly unsafe
  (``BaseFlavor.unsafe``) and the caller opted in.
* ``predict(model, X)`` returns one prediction per row of ``X``.
* ``signature(model)`` returns ``{"kind", "columns", "dtypes"}`` when the model itself
  knows its inputs (an ONNX graph does), else None; the training data's signature wins.

Register a flavor with :func:`register_flavor` (``"module:Class"``, imported on first use).
Flavors are tried in table order by :func:`flavor_for`; the first whose ``can_save`` is
true saves the model.
"""

from __future__ import annotations

import importlib
from typing import Any

from nbmlops.errors import UnsafeModelError, ValidationError

MAX_EXAMPLE_ROWS = 5


class BaseFlavor:
    """Save, load, predict and describe one kind of model (see the module docstring)."""

    name = "base"
    media_type = "application/octet-stream"
    unsafe = False

    def can_save(self, model: Any) -> bool:
        """Return whether this flavor handles ``model``."""
        raise NotImplementedError

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        """Return (bytes, metadata to keep with the artifact)."""
        raise NotImplementedError

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> Any:
        """Return the model rebuilt from ``data``."""
        raise NotImplementedError

    def predict(self, model: Any, X: Any) -> Any:
        """Return predictions for ``X``."""
        return model.predict(X)

    def signature(self, model: Any) -> dict[str, Any] | None:
        """Return the input signature the model declares itself, or None."""
        return None


#: name -> "module:Class"; imported on first use, tried in this order by flavor_for
FLAVORS: dict[str, str] = {
    "sklearn": "nbmlops.flavors.sklearn:SklearnFlavor",
    "onnx": "nbmlops.flavors.onnx:OnnxFlavor",
    "pickle": "nbmlops.flavors.pickle:PickleFlavor",
}


def register_flavor(name: str, target: str, *, clobber: bool = False) -> None:
    """Add a flavor ``"module:Class"`` under ``name``; refuse to replace one unless clobber."""
    if ":" not in target:
        raise ValidationError(f"flavor target {target!r} must look like 'package.module:Class'")
    if name in FLAVORS and not clobber and FLAVORS[name] != target:
        raise ValidationError(
            f"flavor {name!r} is already registered as {FLAVORS[name]}; pass clobber=True "
            "to replace it"
        )
    FLAVORS[name] = target


def unregister_flavor(name: str) -> None:
    """Remove a flavor added with :func:`register_flavor` (built-ins cannot be removed)."""
    if name in {"sklearn", "onnx", "pickle"}:
        raise ValidationError(f"flavor {name!r} is built in and cannot be removed")
    FLAVORS.pop(name, None)


def get_flavor(name: str) -> BaseFlavor:
    """Return the flavor registered under ``name``."""
    if name not in FLAVORS:
        raise ValidationError(
            f"unknown flavor {name!r}; known: {', '.join(sorted(FLAVORS))} (register a new "
            "one with nbmlops.flavors.base.register_flavor)"
        )
    module, cls = FLAVORS[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        from nbmlops.errors import MissingDependencyError

        raise MissingDependencyError(exc.name or module, name) from exc
    return getattr(mod, cls)()  # type: ignore[no-any-return]


def flavor_for(model: Any, *, unsafe_pickle: bool = False) -> BaseFlavor:
    """Return the safe flavor for ``model`` (pickle only with ``unsafe_pickle=True``)."""
    if unsafe_pickle:
        return get_flavor("pickle")
    for name in list(FLAVORS):
        if name == "pickle":
            continue
        try:
            flavor = get_flavor(name)
        except ImportError:
            continue  # an optional flavor whose library is not installed cannot be the one
        if flavor.can_save(model):
            return flavor
    raise UnsafeModelError(
        f"no safe format for a {type(model).__module__}.{type(model).__name__}: nbmlops saves "
        "scikit-learn models with skops and ONNX files with onnx; register a flavor for this "
        "kind (nbmlops.flavors.base.register_flavor), or pass unsafe_pickle=True if you "
        "accept that loading it can run arbitrary code"
    )


def infer_signature(example: Any) -> dict[str, Any] | None:
    """Return the input signature (columns and dtypes) of a DataFrame or 2-D array example."""
    if example is None:
        return None
    mod = type(example).__module__
    if mod.startswith("pandas") and hasattr(example, "columns"):
        return {
            "kind": "dataframe",
            "columns": [str(c) for c in example.columns],
            "dtypes": [str(t) for t in example.dtypes],
        }
    if mod == "numpy" and getattr(example, "ndim", 0) == 2:
        n = int(example.shape[1])
        return {"kind": "ndarray", "columns": [f"f{i}" for i in range(n)],
                "dtypes": [str(example.dtype)] * n}
    return None


def example_records(example: Any) -> list[dict[str, Any]] | None:
    """Return up to MAX_EXAMPLE_ROWS rows of an input example as JSON-able records."""
    if example is None:
        return None
    import json

    mod = type(example).__module__
    if mod.startswith("pandas") and hasattr(example, "columns"):
        head = example.head(MAX_EXAMPLE_ROWS)
        return json.loads(head.to_json(orient="records", date_format="iso"))  # type: ignore[no-any-return]
    if mod == "numpy" and getattr(example, "ndim", 0) == 2:
        rows = example[:MAX_EXAMPLE_ROWS].tolist()
        return [{f"f{i}": v for i, v in enumerate(r)} for r in rows]
    return None
