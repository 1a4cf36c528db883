"""Turn user values into storable params, tags and metric numbers, with clear errors."""

from __future__ import annotations

import json
import math
import numbers
import warnings
from typing import Any

from nbmlops.errors import ValidationError
from nbmlops.tracking.secrets import redact

MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 8000


class ReprParamWarning(UserWarning):
    """A param value was not JSON-serialisable and was stored as its repr."""


def encode_param(key: str, value: Any) -> tuple[str, float | None, str]:
    """Return (text, numeric view, kind) for a param; kind is 'str', 'json' or 'repr'."""
    value = plain(redact(key, value))
    if isinstance(value, str):
        text, kind = value, "str"
    else:
        try:
            text, kind = json.dumps(value, allow_nan=True), "json"
        except (TypeError, ValueError):
            text, kind = repr(value), "repr"
            warnings.warn(
                f"param {key!r} ({type(value).__name__}) is not JSON-serialisable; "
                f"stored its repr {text[:60]!r}",
                ReprParamWarning,
                stacklevel=4,
            )
    if len(text) > MAX_PARAM_CHARS:
        raise ValidationError(
            f"param {key!r} is {len(text)} characters long; params hold up to "
            f"{MAX_PARAM_CHARS}: log large values with log_artifact instead"
        )
    num = None
    if kind == "json" and isinstance(value, numbers.Real) and not isinstance(value, bool):
        num = float(value)
    elif kind == "str":
        try:
            num = float(text)
        except ValueError:
            num = None
    if num is not None and not math.isfinite(num):
        num = None
    return text, num, kind


def decode_param(text: str, kind: str) -> Any:
    """Return the Python value of a stored param."""
    if kind == "json":
        return json.loads(text)
    return text


def plain(value: Any, *, nan_as_none: bool = False) -> Any:
    """Return ``value`` with NumPy/pandas scalars and arrays turned into Python values.

    Dicts, lists and tuples are converted item by item; ``nan_as_none`` also maps float
    NaN to None (for JSON that must stay valid). Anything else is returned unchanged.
    """
    if hasattr(value, "tolist") and callable(value.tolist):  # arrays, Series, numpy scalars
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v, nan_as_none=nan_as_none) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, nan_as_none=nan_as_none) for v in value]
    if nan_as_none and isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_metric(key: str, value: Any) -> float:
    """Return ``value`` as a float metric, or raise naming the key and the bad type.

    NaN and infinities are stored faithfully, as MLflow does.
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise ValidationError(
        f"metric {key!r} must be a number, got {type(value).__name__} {_short(value)}"
    )


def to_tag(key: str, value: Any) -> str:
    """Return a tag value as text, redacted when it looks secret."""
    value = redact(key, value)
    text = value if isinstance(value, str) else json.dumps(plain(value), default=repr)
    if len(text) > MAX_TAG_CHARS:
        raise ValidationError(
            f"tag {key!r} is {len(text)} characters long; tags hold up to {MAX_TAG_CHARS}: "
            "log large values with log_artifact instead"
        )
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
