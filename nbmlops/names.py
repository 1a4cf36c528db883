"""Validation of user-given names (runs, experiments, keys, artifact paths)."""

from __future__ import annotations

import re

from nbmlops.errors import InvalidNameError

MAX_NAME = 250
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_KEY = re.compile(r"[A-Za-z0-9_.\-:]+")
_ARTIFACT_PART = re.compile(r"[A-Za-z0-9._\-+= ]+")


def validate_name(name: object, kind: str = "run") -> str:
    """Return ``name`` if it is a valid entity name (``[A-Za-z0-9._-]``, 1-250 chars)."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(kind, name, "must be a non-empty string")
    if len(name) > MAX_NAME:
        raise InvalidNameError(kind, name[:40] + "…", f"longer than {MAX_NAME} characters")
    if not _NAME.fullmatch(name) or name in {".", ".."}:
        raise InvalidNameError(kind, name, "use only letters, digits, '.', '_' and '-'")
    return name


def validate_key(key: object, kind: str = "metric") -> str:
    """Return ``key`` if it is a valid param/metric/tag key (letters, digits, ``._-:``)."""
    if not isinstance(key, str) or not key:
        raise InvalidNameError(kind, key, "must be a non-empty string")
    if len(key) > MAX_NAME:
        raise InvalidNameError(kind, key[:40] + "…", f"longer than {MAX_NAME} characters")
    if not _KEY.fullmatch(key):
        raise InvalidNameError(kind, key, "use only letters, digits, '.', '_', '-' and ':'")
    return key


def validate_artifact_name(name: object) -> str:
    """Return ``name`` if it is a safe relative artifact path (no ``..``, not absolute)."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError("artifact", name, "must be a non-empty string")
    if len(name) > MAX_NAME:
        raise InvalidNameError("artifact", name[:40] + "…", f"longer than {MAX_NAME} characters")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise InvalidNameError("artifact", name, "must be a relative path, not absolute")
    parts = name.split("/")
    for part in parts:
        if part in {"", ".", ".."}:
            raise InvalidNameError(
                "artifact", name, "path parts may not be empty, '.' or '..' (it would escape)"
            )
        if not _ARTIFACT_PART.fullmatch(part):
            raise InvalidNameError(
                "artifact", name, "use letters, digits, spaces and '._-+=' separated by '/'"
            )
    return name
