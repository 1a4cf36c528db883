"""pipeline.yaml → validated, frozen dataclasses (pure: reads only the YAML file itself).

Every error names the file and line, so ``nbmlops pipeline run`` can fail before any
kernel starts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbmlops.errors import SpecError as SpecError  # re-exported: raised here

TOP_KEYS = {"name", "description", "params", "steps"}
STEP_KEYS = {"notebook", "parameters", "needs", "inputs", "outputs", "retries", "timeout",
             "kernel"}
NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")
REF_RE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class StepSpec:
    """One step: a notebook, its parameters and its place in the DAG."""

    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    retries: int = 0
    timeout: float | None = None
    kernel: str | None = None
    line: int | None = None
    param_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline: steps in a topological order, paths relative to ``root``."""

    name: str
    path: Path
    params: dict[str, Any]
    steps: dict[str, StepSpec]
    order: tuple[str, ...]
    description: str = ""

    @property
    def root(self) -> Path:
        """Return the folder holding the YAML file (steps' working directory)."""
        return self.path.parent

    def upstream(self, step: str) -> set[str]:
        """Return every step ``step`` depends on, directly or not."""
        seen: set[str] = set()
        todo = list(self.steps[step].needs)
        while todo:
            cur = todo.pop()
            if cur not in seen:
                seen.add(cur)
                todo.extend(self.steps[cur].needs)
        return seen


class _Map(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the line of each key."""

    lines: dict[Any, int]
    line: int


def _loader() -> type:
    import yaml

    class LineLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            out = _Map(super().construct_mapping(node, deep=True))
            out.lines = {self.construct_object(k, deep=True): k.start_mark.line + 1
                         for k, _ in node.value}
            out.line = node.start_mark.line + 1
            return out

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                               LineLoader.construct_mapping)
    return LineLoader


def load_spec(path: str | Path) -> PipelineSpec:
    """Return the validated spec in ``path`` (raises SpecError naming file and line)."""
    import yaml

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise SpecError(path, None, "file not found; pass the path of a pipeline.yaml")
    text = _read(path)
    try:
        _check_depth(path, yaml.parse(text))
        doc = yaml.load(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(path, line, f"YAML syntax error: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(path, None, f"YAML error: {exc}") from exc
    _check_size(path, doc)
    return parse_spec(doc, path)


#: bounds on a pipeline file (a user-given size, bounded like filters and request bodies)
MAX_SPEC_BYTES = 1 << 20
MAX_SPEC_DEPTH = 50
MAX_SPEC_VALUES = 100_000


def _read(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(path, None, f"the file is {size:,} bytes; a pipeline file holds at "
                        f"most {MAX_SPEC_BYTES:,}")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise SpecError(path, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); save the file as UTF-8") from None


def _check_depth(path: Path, events: Any) -> None:
    """Refuse collections nested deeper than MAX_SPEC_DEPTH (read as a flat event stream)."""
    import yaml

    depth = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_SPEC_DEPTH:
                mark = event.start_mark
                raise SpecError(path, mark.line + 1 if mark else None,
                                f"values nested more than {MAX_SPEC_DEPTH} deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_size(path: Path, doc: Any) -> None:
    """Refuse documents expanding to more than MAX_SPEC_VALUES values (YAML aliases)."""
    stack, seen = [doc], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_SPEC_VALUES:
            raise SpecError(path, None, f"the document expands to more than "
                            f"{MAX_SPEC_VALUES:,} values (YAML aliases?)")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _unknown(path: Path, m: _Map, allowed: set[str], where: str) -> None:
    for key in m:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else \
                f"; allowed: {', '.join(sorted(allowed))}"
            raise SpecError(path, m.lines.get(key), f"unknown key {key!r} in {where}{hint}")


def parse_spec(doc: Any, path: Path) -> PipelineSpec:
    """Return the spec for an already-parsed YAML document (raises SpecError)."""
    if not isinstance(doc, _Map):
        raise SpecError(path, None, "the file must be a mapping with 'name' and 'steps'")
    _unknown(path, doc, TOP_KEYS, "the pipeline")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(path, doc.lines.get("name", doc.line),
                        f"'name' must be a name of letters, digits, '.', '_' or '-', got {name!r}")
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise SpecError(path, doc.lines.get("params"), "'params' must be a mapping")
    steps_doc = doc.get("steps")
    if not isinstance(steps_doc, _Map) or not steps_doc:
        raise SpecError(path, doc.lines.get("steps", doc.line),
                        "'steps' must be a mapping of step name to step")
    steps = {str(k): _parse_step(path, str(k), v, steps_doc.lines.get(k))
             for k, v in steps_doc.items()}
    order = topological_order(path, steps)
    spec = PipelineSpec(name, path, dict(params), steps, order, str(doc.get("description") or ""))
    for step in steps.values():
        check_references(spec, step)
    return spec


def _parse_step(path: Path, name: str, raw: Any, line: int | None) -> StepSpec:
    if not NAME_RE.match(name):
        raise SpecError(path, line, f"step name {name!r} may use only letters, digits, . _ -")
    if isinstance(raw, str):
        raw = _Map(notebook=raw)
        raw.lines, raw.line = {}, line or 0
    if not isinstance(raw, _Map):
        raise SpecError(path, line, f"step {name!r} must be a mapping with at least 'notebook'")
    _unknown(path, raw, STEP_KEYS, f"step {name!r}")
    nb = raw.get("notebook")
    if not isinstance(nb, str) or not nb.endswith(".ipynb"):
        raise SpecError(path, raw.lines.get("notebook", line),
                        f"step {name!r}: 'notebook' must be the path of an .ipynb file")
    parameters = raw.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise SpecError(path, raw.lines.get("parameters"), f"step {name!r}: 'parameters' "
                        "must be a mapping")
    return StepSpec(
        name=name, notebook=(path.parent / nb).resolve(), parameters=dict(parameters),
        needs=_strings(path, raw, "needs", name), inputs=_strings(path, raw, "inputs", name),
        outputs=_strings(path, raw, "outputs", name), retries=_retries(path, raw, name),
        timeout=_timeout(path, raw, name), kernel=_kernel(path, raw, name), line=line,
        param_lines=dict(getattr(parameters, "lines", {})),
    )


def _strings(path: Path, raw: _Map, key: str, step: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(path, raw.lines.get(key), f"step {step!r}: {key!r} must be a list "
                        "of strings")
    return tuple(value)


def _retries(path: Path, raw: _Map, step: str) -> int:
    value = raw.get("retries", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SpecError(path, raw.lines.get("retries"),
                        f"step {step!r}: 'retries' must be a whole number >= 0, got {value!r}")
    return value


def _timeout(path: Path, raw: _Map, step: str) -> float | None:
    value = raw.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SpecError(path, raw.lines.get("timeout"),
                        f"step {step!r}: 'timeout' must be a positive number of seconds, "
                        f"got {value!r}")
    return float(value)


def _kernel(path: Path, raw: _Map, step: str) -> str | None:
    value = raw.get("kernel")
    if value is not None and not isinstance(value, str):
        raise SpecError(path, raw.lines.get("kernel"),
                        f"step {step!r}: 'kernel' must be a kernel name such as python3")
    return value


def topological_order(path: Path, steps: dict[str, StepSpec]) -> tuple[str, ...]:
    """Return step names so that every step comes after its needs (raises on cycles)."""
    for step in steps.values():
        for need in step.needs:
            if need not in steps:
                near = difflib.get_close_matches(need, sorted(steps), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise SpecError(path, step.line,
                                f"step {step.name!r} needs unknown step {need!r}{hint}")
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise SpecError(path, steps[name].line, f"cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for need in steps[name].needs:
            visit(need, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in steps:
        visit(name, [])
    return tuple(order)


def references(value: Any) -> list[str]:
    """Return the ``${...}`` expressions inside a parameter value (recursively)."""
    if isinstance(value, str):
        return [m.strip() for m in REF_RE.findall(value)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def check_references(spec: PipelineSpec, step: StepSpec) -> None:
    """Raise SpecError if a step's ``${...}`` names an unknown param or a non-upstream step."""
    upstream = spec.upstream(step.name)
    for key, value in step.parameters.items():
        line = step.param_lines.get(key, step.line)
        for ref in references(value):
            parts = ref.split(".")
            if parts[0] == "params" and len(parts) == 2:
                if parts[1] not in spec.params:
                    raise SpecError(spec.path, line, f"step {step.name!r} parameter {key!r}: "
                                    f"unknown pipeline param {parts[1]!r} in ${{{ref}}}; "
                                    f"declared: {', '.join(sorted(spec.params)) or 'none'}")
            elif parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                if parts[1] not in upstream:
                    raise SpecError(spec.path, line, f"step {step.name!r} parameter {key!r} "
                                    f"reads ${{{ref}}} but {parts[1]!r} is not upstream of "
                                    f"{step.name!r}; add it to 'needs'")
            else:
                raise SpecError(spec.path, line, f"step {step.name!r} parameter {key!r}: bad "
                                f"reference ${{{ref}}}; use ${{params.NAME}} or "
                                "${steps.STEP.outputs.NAME}")
