"""The nbmlops exception tree: every failure a user can cause is one of these.

::

    NbmlopsError
    ├── ConfigError
    ├── ValidationError (ValueError)
    │   ├── InvalidNameError
    │   ├── FilterError
    │   └── PayloadError
    ├── StoreError
    │   ├── StoreUnavailableError
    │   ├── NotFoundError (KeyError)
    │   │   ├── RunNotFound
    │   │   ├── ArtifactNotFound
    │   │   └── ModelNotFound
    │   ├── ConflictError
    │   │   └── ModelVersionConflict
    │   └── ArtifactIntegrityError
    ├── UnsafeModelError
    ├── PipelineError
    │   ├── SpecError
    │   └── PipelineStepError
    ├── DeployError
    └── MissingDependencyError (ImportError)

Each exception builds its own message from structured attributes, so the CLI,
the magics and the REST handlers can all show ``str(exc)`` as one clear line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


class NbmlopsError(Exception):
    """Base class of every error nbmlops raises on purpose."""

    def format_message(self) -> str:
        """Return the one-line message shown to users."""
        return str(self.args[0]) if self.args else self.__class__.__name__

    def __str__(self) -> str:
        return self.format_message()


class ConfigError(NbmlopsError):
    """A setting (argument or ``NBMLOPS_*`` variable) has a value nbmlops cannot use."""


class ValidationError(NbmlopsError, ValueError):
    """A value given by the user is not acceptable; nothing was changed."""


class InvalidNameError(ValidationError):
    """A name (run, experiment, param, metric, artifact...) breaks the naming rules."""

    def __init__(self, kind: str, name: object, rule: str) -> None:
        self.kind, self.name, self.rule = kind, name, rule
        super().__init__(f"invalid {kind} name {name!r}: {rule}")


class FilterError(ValidationError):
    """A ``runs(filter=...)`` expression could not be parsed or names an unknown column."""

    def __init__(self, expression: str, problem: str, position: int | None = None) -> None:
        self.expression, self.problem, self.position = expression, problem, position
        where = f" at position {position}" if position is not None else ""
        shown = expression if len(expression) <= 200 else expression[:200] + "…"
        super().__init__(f"bad filter {shown!r}{where}: {problem}")


class PayloadError(ValidationError):
    """A request body the model cannot take; carries the HTTP status and what was expected."""

    def __init__(self, message: str, *, status: int = 400, code: str = "BAD_REQUEST",
                 expected: dict[str, Any] | None = None) -> None:
        self.status, self.code, self.expected = status, code, expected
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        """Return the JSON error body (``error`` plus MLflow's ``error_code``/``message``)."""
        out: dict[str, Any] = {"error": str(self), "error_code": self.code, "message": str(self)}
        if self.expected:
            out["expected"] = self.expected
        return out


class StoreError(NbmlopsError):
    """The metadata store or the artifact store failed or refused an operation."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or written (missing, corrupted, read-only)."""

    def __init__(self, location: str, problem: str, hint: str = "") -> None:
        self.location, self.problem, self.hint = location, problem, hint
        msg = f"store at {location} is unusable: {problem}"
        super().__init__(msg + (f" ({hint})" if hint else ""))


class NotFoundError(StoreError, KeyError):
    """A thing looked up by name or id does not exist."""

    kind = "object"

    def __init__(self, key: object, hint: str = "") -> None:
        self.key, self.hint = key, hint
        msg = f"{self.kind} {key!r} not found"
        super().__init__(msg + (f"; {hint}" if hint else ""))

    def __str__(self) -> str:  # KeyError would quote the message
        return self.format_message()


class RunNotFound(NotFoundError):
    """No run has this id."""

    kind = "run"


class ArtifactNotFound(NotFoundError):
    """A run has no artifact by that name, or a blob is missing from the artifact store."""

    kind = "artifact"


class ModelNotFound(NotFoundError):
    """No registered model, version or alias matches the reference."""

    kind = "model"


class ConflictError(StoreError):
    """The operation conflicts with what the store already holds."""


class ModelVersionConflict(ConflictError):
    """Two writers raced for the same model version number."""


class ArtifactIntegrityError(StoreError):
    """A blob's bytes do not hash to the sha256 it is stored under (tampering or corruption)."""

    def __init__(self, sha256: str, actual: str) -> None:
        self.sha256, self.actual = sha256, actual
        super().__init__(
            f"artifact {sha256[:12]}… failed its integrity check: its bytes hash to "
            f"{actual[:12]}…; the file was modified or corrupted, refusing to use it"
        )


class UnsafeModelError(NbmlopsError):
    """A model cannot be saved or loaded without executing untrusted code."""


class PipelineError(NbmlopsError):
    """A pipeline spec is invalid or a pipeline could not run."""


class SpecError(PipelineError):
    """A pipeline.yaml is invalid; the message names the file and line."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


class PipelineStepError(PipelineError):
    """A pipeline step's notebook failed; keeps papermill's cell index and error."""

    def __init__(
        self,
        step: str,
        notebook: str,
        cell_index: int | None = None,
        ename: str = "",
        evalue: str = "",
    ) -> None:
        self.step, self.notebook = step, notebook
        self.cell_index, self.ename, self.evalue = cell_index, ename, evalue
        cell = f" cell {cell_index}" if cell_index is not None else ""
        super().__init__(f"step {step!r} failed in {notebook}{cell}: {ename}: {evalue}")


class DeployError(NbmlopsError):
    """A deployment could not be started, reached or stopped."""


class MissingDependencyError(NbmlopsError, ImportError):
    """An optional dependency is needed for this feature and is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package, self.extra = package, extra
        super().__init__(
            f"{package} is required for this feature; install it with "
            f"pip install 'nbmlops[{extra}]'"
        )


def describe(exc: BaseException) -> dict[str, Any]:
    """Return a JSON-able ``{"error": ..., "type": ...}`` body for an exception."""
    return {"error": str(exc), "type": type(exc).__name__}
