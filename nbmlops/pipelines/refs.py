"""Resolve ``${params.x}`` and ``${steps.s.outputs.y}`` in step parameters (pure)."""

from __future__ import annotations

from typing import Any

from nbmlops.errors import PipelineError
from nbmlops.pipelines.spec import REF_RE


def lookup(ref: str, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """Return the value a reference names (raises PipelineError when it is missing)."""
    parts = ref.strip().split(".")
    if parts[0] == "params":
        return params[parts[1]]
    step, name = parts[1], parts[3]
    produced = outputs.get(step, {})
    if name not in produced:
        have = ", ".join(sorted(produced)) or "no outputs"
        raise PipelineError(
            f"${{{ref}}}: step {step!r} recorded {have}; call nbmlops.output({name!r}, value) "
            f"in {step}'s notebook"
        )
    return produced[name]


def resolve(value: Any, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """Return ``value`` with references replaced.

    A string that is exactly one reference takes the referenced value with its type
    (``"${params.n}"`` → ``100``); references inside longer strings are formatted in.
    """
    if isinstance(value, dict):
        return {k: resolve(v, params, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, outputs) for v in value]
    if not isinstance(value, str):
        return value
    whole = REF_RE.fullmatch(value.strip())
    if whole:
        return lookup(whole.group(1), params, outputs)
    return REF_RE.sub(lambda m: str(lookup(m.group(1), params, outputs)), value)


def resolve_parameters(
    parameters: dict[str, Any], params: dict[str, Any], outputs: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Return a step's parameters with every reference resolved."""
    return {k: resolve(v, params, outputs) for k, v in parameters.items()}
