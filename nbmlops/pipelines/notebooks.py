"""Step notebooks: their code fingerprint, their ``parameters`` cell, and type checks."""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbmlops.errors import PipelineError, SpecError
from nbmlops.pipelines.spec import PipelineSpec, StepSpec, references

_ANY = object()  # default whose type cannot be known (not a literal)


@dataclass(frozen=True)
class NotebookInfo:
    """What the runner needs from a notebook without executing it."""

    path: Path
    cells: tuple[tuple[int, str], ...]  # (1-based cell number, sha256 of code source)
    parameters: dict[str, Any] | None  # name -> default (_ANY if not a literal); None: no cell
    kernel: str | None
    language: str

    @property
    def code_hash(self) -> str:
        """Return one sha256 over every code cell's source."""
        return hashlib.sha256(json.dumps(self.cells).encode()).hexdigest()


def read_notebook(path: Path) -> NotebookInfo:
    """Return the code fingerprint and parameters of a notebook (raises PipelineError)."""
    try:
        nb = json.loads(path.read_text())
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path} is not a readable notebook: {exc}") from exc
    meta = nb.get("metadata", {})
    language = (meta.get("kernelspec", {}).get("language")
                or meta.get("language_info", {}).get("name") or "python")
    hashes: list[tuple[int, str]] = []
    params: dict[str, Any] | None = None
    for number, cell in enumerate(cells, 1):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            continue
        hashes.append((number, hashlib.sha256(source.encode()).hexdigest()))
        if "parameters" in tags and params is None:
            params = _parameters(source, path, language)
    kernel = meta.get("kernelspec", {}).get("name")
    return NotebookInfo(path, tuple(hashes), params, kernel, language)


def _parameters(source: str, path: Path, language: str) -> dict[str, Any]:
    if language != "python":
        import papermill

        return {name: _ANY for name in papermill.inspect_notebook(str(path))}
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise PipelineError(f"{path}: the parameters cell does not parse: {exc}") from exc
    out: dict[str, Any] = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name):
            try:
                out[target.id] = ast.literal_eval(value) if value is not None else _ANY
            except ValueError:
                out[target.id] = _ANY
    return out


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def type_matches(default: Any, value: Any) -> bool:
    """Return whether ``value`` may replace a parameter whose default is ``default``."""
    if default is _ANY or default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_types(step: str, info: NotebookInfo, values: dict[str, Any]) -> None:
    """Raise PipelineError when a resolved parameter has the wrong type for its default."""
    for key, value in values.items():
        default = (info.parameters or {}).get(key, _ANY)
        if not type_matches(default, value):
            raise PipelineError(
                f"step {step!r} parameter {key!r} is {value!r} ({_type_name(value)}) but "
                f"{info.path.name}'s parameters cell has {key} = {default!r} "
                f"({_type_name(default)})"
            )


def validate_step(spec: PipelineSpec, step: StepSpec) -> NotebookInfo:
    """Return the step's notebook info after checking it exists and accepts the parameters."""
    if not step.notebook.is_file():
        raise SpecError(spec.path, step.line,
                        f"step {step.name!r}: notebook {step.notebook} does not exist")
    info = read_notebook(step.notebook)
    if step.parameters and info.parameters is None:
        raise SpecError(spec.path, step.line, f"step {step.name!r} sets parameters but "
                        f"{step.notebook.name} has no cell tagged 'parameters'")
    for key, value in step.parameters.items():
        line = step.param_lines.get(key, step.line)
        if key not in (info.parameters or {}):
            known = ", ".join(sorted(info.parameters or {})) or "none"
            raise SpecError(spec.path, line, f"step {step.name!r}: {step.notebook.name} has "
                            f"no parameter {key!r} (its parameters cell defines: {known})")
        if not references(value):
            try:
                check_types(step.name, info, {key: value})
            except PipelineError as exc:
                raise SpecError(spec.path, line, str(exc)) from None
    return info


def validate_notebooks(spec: PipelineSpec) -> dict[str, NotebookInfo]:
    """Return {step: NotebookInfo}, checking every step before anything runs."""
    return {name: validate_step(spec, spec.steps[name]) for name in spec.order}


def check_param_overrides(spec: PipelineSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """Return the pipeline params with ``overrides`` applied (unknown or mistyped raise)."""
    for key, value in overrides.items():
        if key not in spec.params:
            declared = ", ".join(sorted(spec.params)) or "none"
            raise PipelineError(f"unknown pipeline param {key!r}; {spec.path.name} declares: "
                                f"{declared}")
        if not type_matches(spec.params[key], value):
            raise PipelineError(f"pipeline param {key!r} is {spec.params[key]!r} "
                                f"({_type_name(spec.params[key])}); got {value!r} "
                                f"({_type_name(value)})")
    return {**spec.params, **overrides}
