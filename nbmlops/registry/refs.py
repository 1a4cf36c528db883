"""Model references: ``name/3`` (a version) and ``name@alias``, used the same way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbmlops.errors import ValidationError
from nbmlops.names import validate_name

_REF = re.compile(r"^(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))?$")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference; exactly one of version/alias may be set (neither means latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str | ModelRef) -> ModelRef:
    """Return the ModelRef for ``"name/3"``, ``"name@alias"`` or ``"name"`` (latest)."""
    if isinstance(ref, ModelRef):
        return ref
    m = _REF.match(ref) if isinstance(ref, str) else None
    if m is None:
        raise ValidationError(
            f"bad model reference {ref!r}; use NAME/VERSION (churn/3) or NAME@ALIAS "
            "(churn@production)"
        )
    name = validate_name(m["name"], "model")
    if m["version"] is not None:
        if not m["version"].isdigit() or int(m["version"]) < 1:
            raise ValidationError(
                f"bad model version {m['version']!r} in {ref!r}; versions are 1, 2, 3…"
            )
        return ModelRef(name, version=int(m["version"]))
    if m["alias"] is not None:
        return ModelRef(name, alias=validate_name(m["alias"], "alias"))
    return ModelRef(name)
