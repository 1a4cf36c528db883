"""Pickle: the explicit, unsafe opt-in for models no safe flavor can hold."""

from __future__ import annotations

import pickle
from typing import Any

from nbmlops.errors import UnsafeModelError
from nbmlops.flavors.base import BaseFlavor

WHY = "unpickling runs arbitrary code from the file, so only load pickles you made yourself"


class PickleFlavor(BaseFlavor):
    """Any picklable model; loading requires ``unsafe_pickle=True`` again."""

    name = "pickle"
    media_type = "application/x-pickle"
    unsafe = True

    def can_save(self, model: Any) -> bool:
        """Return True: pickle takes nearly anything, which is why it is unsafe."""
        return True

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        """Return pickle bytes and metadata marking the artifact unsafe."""
        try:
            data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise UnsafeModelError(f"cannot pickle this {type(model).__name__}: {exc}") from exc
        return data, {"flavor": self.name, "unsafe": True, "unsafe_reason": WHY,
                      "class": f"{type(model).__module__}.{type(model).__name__}"}

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> Any:
        """Return the unpickled model, only when the caller passed ``unsafe_pickle=True``."""
        if not options.get("unsafe_pickle"):
            raise UnsafeModelError(
                f"this model was saved with pickle; {WHY}. Pass unsafe_pickle=True to load it"
            )
        return pickle.loads(data)  # noqa: S301 - explicit opt-in above
