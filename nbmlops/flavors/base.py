"""The flavor interface, the flavor table, and input-signature inference.

A flavor turns a model object into bytes and back. Implementers must guarantee
that ``load`` never executes code from the bytes unless the flavor is explicitly
unsafe (``BaseFlavor.unsafe``), and that ``save`` raises UnsafeModelError rather
than writing something ``load`` would refuse.
"""

from __future__ import annotations

import importlib
from typing import Any

from nbmlops.errors import UnsafeModelError, ValidationError

MAX_EXAMPLE_ROWS = 5


class BaseFlavor:
    """Save, load and predict for one kind of model."""

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


#: name -> "module:Class"; imported on first use
FLAVORS: dict[str, str] = {
    "sklearn": "nbmlops.flavors.sklearn:SklearnFlavor",
    "pickle": "nbmlops.flavors.pickle:PickleFlavor",
}


def register_flavor(name: str, target: str, *, clobber: bool = False) -> None:
    """Add a flavor ``"module:Class"`` under ``name``; refuse to replace one unless clobber."""
    if name in FLAVORS and not clobber and FLAVORS[name] != target:
        raise ValidationError(f"flavor {name!r} is already registered as {FLAVORS[name]}")
    FLAVORS[name] = target


def get_flavor(name: str) -> BaseFlavor:
    """Return the flavor registered under ``name``."""
    if name not in FLAVORS:
        raise ValidationError(f"unknown flavor {name!r}; known: {', '.join(sorted(FLAVORS))}")
    module, cls = FLAVORS[name].split(":")
    return getattr(importlib.import_module(module), cls)()  # type: ignore[no-any-return]


def flavor_for(model: Any, *, unsafe_pickle: bool = False) -> BaseFlavor:
    """Return the safe flavor for ``model`` (pickle only with ``unsafe_pickle=True``)."""
    if unsafe_pickle:
        return get_flavor("pickle")
    for name in FLAVORS:
        if name == "pickle":
            continue
        flavor = get_flavor(name)
        if flavor.can_save(model):
            return flavor
    raise UnsafeModelError(
        f"no safe format for a {type(model).__module__}.{type(model).__name__}: nbmlops saves "
        "scikit-learn models with skops; register a flavor for this kind, or pass "
        "unsafe_pickle=True if you accept that loading it can run arbitrary code"
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
