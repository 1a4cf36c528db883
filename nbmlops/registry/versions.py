"""Register model versions from runs, look them up by reference, load and compare them."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ModelNotFound
from nbmlops.names import validate_name
from nbmlops.registry.refs import ModelRef, parse_ref

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.store.artifacts import ArtifactStore
    from nbmlops.store.registry import RegistryStore
    from nbmlops.tracking.run import Run


@dataclass(frozen=True, repr=False)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str
    artifact_name: str
    sha256: str
    size: int
    flavor: str
    signature: dict[str, Any] | None
    input_example: list[dict[str, Any]] | None
    metrics: dict[str, float]
    unsafe: bool
    description: str | None
    tags: dict[str, str]
    created_at: datetime
    created_by: str
    aliases: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """Return ``name/version``."""
        return f"{self.name}/{self.version}"

    def __repr__(self) -> str:
        aliases = " ".join(f"@{a}" for a in self.aliases)
        unsafe = " UNSAFE-pickle" if self.unsafe else ""
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(self.metrics.items())[:4])
        return (f"<ModelVersion {self.ref} {self.flavor}{unsafe} {aliases} run={self.run_id[:8]}"
                f"{' ' + metrics if metrics else ''}>").replace("  ", " ")

    @property
    def unsafe_pickle(self) -> bool:
        """Return whether the artifact is a pickle (loading it can run arbitrary code)."""
        return self.unsafe

    @property
    def needs_trust(self) -> list[str]:
        """Return the types outside the trusted policy a loader must trust explicitly."""
        return list(self.meta.get("needs_trust") or [])

    def predict(self, X: Any, **options: Any) -> Any:
        """Return predictions of this version for ``X`` (loads the model each call)."""
        from nbmlops.flavors.base import get_flavor

        return get_flavor(self.flavor).predict(self.load(**options), X)

    def load(self, **options: Any) -> Any:
        """Return the model object (hash-verified; never unpickled without opt-in)."""
        return load_model(self.ref, **options)

    def _repr_html_(self) -> str:
        from nbmlops.registry.cards import model_card_html

        return model_card_html(self)


def current_user() -> str:
    """Return the OS user name recorded in audit logs."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def _registry() -> tuple[RegistryStore, ArtifactStore]:
    from nbmlops.store import open_store
    from nbmlops.store.registry import RegistryStore

    sql, artifacts = open_store()
    return RegistryStore(sql), artifacts


def _to_version(row: dict[str, Any], aliases: dict[str, int]) -> ModelVersion:
    meta = row["meta"]
    return ModelVersion(
        name=row["name"], version=row["version"], run_id=row["run_id"],
        artifact_name=row["artifact_name"], sha256=row["sha256"], size=row["size"],
        flavor=row["flavor"], signature=meta.get("signature") or meta.get("flavor_signature"),
        input_example=meta.get("input_example"), metrics=row["metrics"], unsafe=row["unsafe"],
        description=row["description"], tags=row["tags"],
        created_at=datetime.fromtimestamp(row["created_at"], tz=timezone.utc),
        created_by=row["created_by"],
        aliases=sorted(a for a, v in aliases.items() if v == row["version"]), meta=meta,
    )


def register_model(
    name: str,
    run: str | Run | None = "last",
    model: Any = "model",
    description: str | None = None,
    tags: dict[str, str] | None = None,
    *,
    input_example: Any = None,
    unsafe_pickle: bool = False,
    trusted: list[str] | None = None,
    artifact: str = "model",
) -> ModelVersion:
    """Register a run's model as the next version of ``name`` and return it.

    Parameters
    ----------
    name
        Model name (``[A-Za-z0-9._-]``).
    run
        A Run, a run id or a unique prefix of one, or ``"last"`` (the active run, else the
        latest top-level run): whatever ``nbmlops.resolve_run`` accepts.
    model
        The name of a model artifact of the run, or a fitted model object, which is first
        logged into the run as ``artifact`` (``model-2``… if taken; ``input_example``,
        ``unsafe_pickle`` and ``trusted`` apply).
    description, tags
        Kept with the version.

    Returns
    -------
    ModelVersion
        The new version (its number is one more than the latest).

    Raises
    ------
    RunNotFound, ArtifactNotFound, InvalidNameError, UnsafeModelError
        Nothing is written when any of these is raised.
    """
    from nbmlops.names import validate_key
    from nbmlops.tracking.api import resolve_run
    from nbmlops.tracking.values import to_tag

    validate_name(name, "model")
    tag_values = {validate_key(k, "tag"): to_tag(k, v) for k, v in (tags or {}).items()}
    source = resolve_run(run)
    if not isinstance(model, str):
        model = _log_object(source, model, artifact, input_example=input_example,
                            unsafe_pickle=unsafe_pickle, trusted=trusted)
    info, meta = source.model_artifact(model)
    reg, _ = _registry()
    row = dict(
        run_id=source.id, artifact_name=info.name, sha256=info.sha256, size=info.size,
        flavor=meta["flavor"], meta=json.dumps(meta), metrics=json.dumps(source.metrics),
        unsafe=bool(meta.get("unsafe")), description=description, tags=json.dumps(tag_values),
        created_at=datetime.now(tz=timezone.utc).timestamp(), created_by=current_user(),
    )
    version = reg.create_version(name, row, description)
    mv = get_model_version(f"{name}/{version}")
    for hook in _on_register:
        try:
            hook(mv)
        except Exception as exc:  # a hook never undoes or fails a registration
            logging.getLogger(__name__).warning("after registering %s: %s", mv.ref, exc)
    return mv


#: called with each version this process registers, see :func:`on_register`
_on_register: list[Callable[[ModelVersion], None]] = []


def on_register(hook: Callable[[ModelVersion], None]) -> None:
    """Call ``hook(version)`` after each registration in this process (added once).

    For the interfaces: ``%load_ext nbmlops`` uses it to start the serving warm host while
    the user reads the new version's card, since a deploy usually follows. A hook that
    raises is logged; the registration stands.
    """
    if hook not in _on_register:
        _on_register.append(hook)


def _log_object(run: Run, model: Any, base: str, **options: Any) -> str:
    """Log a model object into ``run`` under a free artifact name; return that name."""
    from nbmlops.flavors.base import flavor_for
    from nbmlops.names import validate_artifact_name

    validate_artifact_name(base)
    flavor_for(model, unsafe_pickle=options.get("unsafe_pickle", False))  # fail before writing
    taken = {a.name for a in run.artifacts}
    artifact, n = base, 1
    while artifact in taken:
        n += 1
        artifact = f"{base}-{n}"
    run.log_model(model, artifact, **options)
    return artifact


def resolve_version(ref: str | ModelRef) -> tuple[str, int]:
    """Return (name, version) for a reference; ``name`` alone means the latest version."""
    r = parse_ref(ref)
    reg, _ = _registry()
    if r.version is not None:
        return r.name, r.version
    if r.alias is not None:
        return r.name, reg.resolve_alias(r.name, r.alias)
    versions = reg.version_numbers(r.name)
    if not versions:
        raise ModelNotFound(r.name, "register one with register_model or %register")
    return r.name, versions[-1]


def get_model_version(ref: str | ModelRef) -> ModelVersion:
    """Return the ModelVersion a reference (``name/3``, ``name@alias``, ``name``) points at.

    Parameters
    ----------
    ref : str or ModelRef
        ``name/3``, ``name@alias``, or ``name`` for the latest version.

    Returns
    -------
    ModelVersion
        The version, with its signature, metrics and aliases.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    ValidationError
        ``ref`` is not written like a model reference.
    """
    name, version = resolve_version(ref)
    reg, _ = _registry()
    return _to_version(reg.get_version(name, version), reg.aliases(name))


def load_model(ref: str | ModelRef, **options: Any) -> Any:
    """Return the fitted model object of a version (hash-verified, safe format).

    Parameters
    ----------
    ref : str or ModelRef
        ``name/3``, ``name@alias`` or ``name``.
    **options
        ``trusted=[...]`` trusts extra skops types; ``unsafe_pickle=True`` is needed for
        pickles.

    Returns
    -------
    object
        The model, as it was logged.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    ArtifactIntegrityError
        The stored bytes no longer match their sha256.
    UnsafeModelError
        Loading needs types that are not trusted, or a pickle without ``unsafe_pickle``.
    """
    from nbmlops.flavors.base import get_flavor

    mv = get_model_version(ref)
    _, artifacts = _registry()
    data = artifacts.get_bytes(mv.sha256)
    return get_flavor(mv.flavor).load(data, mv.meta, **options)


def latest_checks(ref: str | ModelRef) -> list[dict[str, Any]]:
    """Return the most recent check results of a version (``[]`` if it was never checked).

    Each is ``{"check", "passed", "value", "threshold", "detail", "at"}`` (``at`` in epoch
    seconds): the batch the promotion gate looks at.
    """
    mv = get_model_version(ref)
    reg, _ = _registry()
    keys = ("check", "passed", "value", "threshold", "detail", "at")
    return [{k: c.get(k) for k in keys} for c in reg.latest_checks(mv.name, mv.version)]


def list_models() -> pd.DataFrame:
    """Return a DataFrame of registered models: name, latest_version, versions, aliases.

    Returns
    -------
    pandas.DataFrame
        One row per model, with its description and creation time; empty when none.

    Raises
    ------
    StoreUnavailableError
        The store cannot be opened or written.
    """
    import pandas as pd

    reg, _ = _registry()
    rows = reg.list_models()
    for row in rows:
        row["aliases"] = ", ".join(f"{a}→{v}" for a, v in sorted(reg.aliases(row["name"]).items()))
        row["created_at"] = datetime.fromtimestamp(row["created_at"], tz=timezone.utc)
    cols = ["name", "latest_version", "versions", "aliases", "description", "created_at"]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=cols)
    return frame


def list_versions(name: str) -> pd.DataFrame:
    """Return a DataFrame of a model's versions, newest first, with aliases and metrics.

    Parameters
    ----------
    name : str
        The model name.

    Returns
    -------
    pandas.DataFrame
        One row per version: aliases, run, flavor, unsafe pickle, check status, creation,
        and ``metrics.<key>`` columns.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    InvalidNameError
        ``name`` breaks the naming rules.
    """
    import pandas as pd

    validate_name(name, "model")
    reg, _ = _registry()
    rows = reg.list_versions(name)
    if not rows:
        raise ModelNotFound(name, "register one with register_model or %register")
    aliases = reg.aliases(name)
    out = []
    for row in rows:
        mv = _to_version(row, aliases)
        rec: dict[str, Any] = {
            "version": mv.version, "aliases": ", ".join(mv.aliases), "run_id": mv.run_id,
            "flavor": mv.flavor + (" (UNSAFE pickle)" if mv.unsafe else ""),
            "unsafe_pickle": mv.unsafe, "checks": _check_status(reg, mv),
            "created_at": mv.created_at, "created_by": mv.created_by,
        }
        rec.update({f"metrics.{k}": v for k, v in sorted(mv.metrics.items())})
        out.append(rec)
    frame: pd.DataFrame = pd.DataFrame(out)
    return frame


def _check_status(reg: RegistryStore, mv: ModelVersion) -> str:
    checks = reg.latest_checks(mv.name, mv.version)
    if not checks:
        return "never run"
    failed = sum(not c["passed"] for c in checks)
    return f"{failed}/{len(checks)} failed" if failed else f"{len(checks)} passed"


def compare_versions(name: str, v1: int | str, v2: int | str) -> pd.DataFrame:
    """Return params, metrics and data fingerprints of two versions side by side.

    Parameters
    ----------
    name : str
        The model name.
    v1, v2 : int or str
        Version numbers or aliases.

    Returns
    -------
    pandas.DataFrame
        Columns kind, key, one per version, and differs.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    RunNotFound
        A version's run no longer exists.
    """
    import pandas as pd

    from nbmlops.tracking.api import get_run

    a = get_model_version(f"{name}/{v1}" if str(v1).isdigit() else f"{name}@{v1}")
    b = get_model_version(f"{name}/{v2}" if str(v2).isdigit() else f"{name}@{v2}")
    ra, rb = get_run(a.run_id), get_run(b.run_id)
    rows: list[dict[str, Any]] = []

    def add(kind: str, da: dict[str, Any], db: dict[str, Any]) -> None:
        for key in sorted(set(da) | set(db)):
            va, vb = da.get(key), db.get(key)
            rows.append({"kind": kind, "key": key, a.ref: va, b.ref: vb, "differs": va != vb})

    add("param", ra.params, rb.params)
    add("metric", a.metrics, b.metrics)
    add("data", {d.name: d.fingerprint[:12] for d in ra.datasets},
        {d.name: d.fingerprint[:12] for d in rb.datasets})
    add("model", {"sha256": a.sha256[:12], "flavor": a.flavor, "size": a.size},
        {"sha256": b.sha256[:12], "flavor": b.flavor, "size": b.size})
    frame: pd.DataFrame = pd.DataFrame(rows)
    return frame
