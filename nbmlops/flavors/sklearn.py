"""scikit-learn models saved with skops and loaded under an explicit trusted-type policy."""

from __future__ import annotations

import os
from typing import Any

from nbmlops.errors import UnsafeModelError
from nbmlops.flavors.base import BaseFlavor

#: Types from these packages are trusted: skops rebuilds them without running their code.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def _extra_trusted() -> list[str]:
    raw = os.environ.get("NBMLOPS_TRUSTED_TYPES", "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def untrusted_types(data: bytes, trusted: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Return (types skops asks about, those outside the policy and ``trusted``)."""
    import skops.io as sio

    asked = list(sio.get_untrusted_types(data=data))
    allowed = set(trusted or []) | set(_extra_trusted())
    refused = [t for t in asked if not t.startswith(TRUSTED_PREFIXES) and t not in allowed]
    return asked, refused


def _refusal(refused: list[str], verb: str) -> UnsafeModelError:
    names = ", ".join(refused)
    return UnsafeModelError(
        f"cannot {verb} this model safely: it contains types outside the trusted policy "
        f"({names}). If you trust them, pass trusted={refused!r} or set "
        f"NBMLOPS_TRUSTED_TYPES={','.join(refused)}"
    )


class SklearnFlavor(BaseFlavor):
    """scikit-learn estimators and Pipelines via skops (``.skops``)."""

    name = "sklearn"
    media_type = "application/x-skops"

    def can_save(self, model: Any) -> bool:
        """Return whether ``model`` is a scikit-learn estimator."""
        try:
            from sklearn.base import BaseEstimator
        except ImportError:
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        """Return skops bytes; refuse models that could not be loaded back safely."""
        import sklearn
        import skops.io as sio

        trusted = list(options.get("trusted") or [])
        try:
            data = sio.dumps(model)
        except Exception as exc:
            raise UnsafeModelError(
                f"skops cannot save this {type(model).__name__} ({exc}); models holding "
                "lambdas or local functions cannot be stored safely"
            ) from exc
        _, refused = untrusted_types(data, trusted)
        if refused:
            raise _refusal(refused, "save")
        meta = {
            "flavor": self.name,
            "class": f"{type(model).__module__}.{type(model).__name__}",
            "sklearn_version": sklearn.__version__,
            "trusted": trusted,
        }
        return data, meta

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> Any:
        """Return the model; refuse any type outside the policy or the recorded trust list."""
        import skops.io as sio

        trusted = list(meta.get("trusted") or []) + list(options.get("trusted") or [])
        asked, refused = untrusted_types(data, trusted)
        if refused:
            raise _refusal(refused, "load")
        return sio.loads(data, trusted=asked)
