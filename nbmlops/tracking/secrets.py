"""Redaction of values that look like secrets, applied before anything is stored."""

from __future__ import annotations

import re
from typing import Any

from nbmlops.config import redact_urls

REDACTED = "***REDACTED***"
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b"  # GitHub tokens
    r"|\bgithub_pat_[A-Za-z0-9_]{22,}\b"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}\b"  # Slack
    r"|\bsk-[A-Za-z0-9_-]{20,}\b"  # OpenAI-style keys
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


def is_secret_name(name: str) -> bool:
    """Return whether a key or variable name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def looks_like_secret(value: Any) -> bool:
    """Return whether a value looks like a well-known token format."""
    return isinstance(value, str) and bool(_SECRET_VALUE.search(value))


#: values nested deeper than this are refused rather than walked (a user-given depth)
MAX_DEPTH = 100


def redact(name: str, value: Any) -> Any:
    """Return ``value`` with secrets replaced, recursively.

    The whole value is the redaction marker when ``name`` looks secret. Inside it, a
    dict item whose key looks secret and any text that looks like a token become the
    marker, wherever they are nested (dicts, lists, tuples, arrays); the password part of
    any URL with credentials becomes ``***``.
    """
    if is_secret_name(name):
        return REDACTED
    return _scrub(value, 0)


def _scrub(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        from nbmlops.errors import ValidationError

        raise ValidationError(f"a value nested more than {MAX_DEPTH} levels deep cannot be "
                              "stored; log it as an artifact instead")
    if isinstance(value, str):
        return REDACTED if looks_like_secret(value) else redact_urls(value)
    if hasattr(value, "tolist") and callable(value.tolist) and not isinstance(value, bytes):
        value = value.tolist()  # NumPy arrays and scalars, pandas Series
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_name(str(k)) else _scrub(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value]
    return value
