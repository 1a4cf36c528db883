"""Parse ``-p key=value`` options (values read as YAML scalars: 200 → int, 0.1 → float)."""

from __future__ import annotations

from typing import Any

from nbmlops.errors import ValidationError


def parse_params(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Return {key: value} from ``key=value`` strings (raises ValidationError)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"parameter {item!r} must look like key=value, e.g. -p alpha=0.2")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key] = raw
    return out
