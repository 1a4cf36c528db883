"""Redaction of values that look like secrets, applied before anything is stored."""

from __future__ import annotations

import re
from typing import Any

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


def redact(name: str, value: Any) -> Any:
    """Return ``value``, or the redaction marker when the name or the value looks secret."""
    if is_secret_name(name) or looks_like_secret(value):
        return REDACTED
    return value
