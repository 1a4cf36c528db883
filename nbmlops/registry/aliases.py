"""Aliases (staging, production, …): move them with an audit trail; promote behind test gates."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from nbmlops.errors import ValidationError
from nbmlops.names import validate_name
from nbmlops.registry.versions import (
    ModelVersion,
    _registry,
    current_user,
    get_model_version,
)

if TYPE_CHECKING:
    import pandas as pd


class PromotionBlocked(ValidationError):
    """A promotion was refused because the version's latest checks did not all pass.

    ``ref`` is the version refused and ``failed`` its failed check results (``[]`` when it
    was never checked), each ``{"check", "passed", "value", "threshold", "detail"}``.
    """

    def __init__(self, message: str, ref: str = "",
                 failed: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.ref = ref
        self.failed = list(failed or [])


def model_aliases(name: str) -> dict[str, int]:
    """Return ``{alias: version}`` for the model ``name`` (empty when it has no aliases)."""
    validate_name(name, "model")
    reg, _ = _registry()
    return reg.aliases(name)


def set_alias(name: str, alias: str, version: int | str, reason: str | None = None,
              *, force: bool = False) -> ModelVersion:
    """Point ``name@alias`` at ``version`` (recorded in the audit log); return that version.

    Unlike :func:`promote` this is not gated on checks.

    Parameters
    ----------
    name : str
        The model name.
    alias : str
        The alias to set.
    version : int or str
        The version number.
    reason : str, optional
        Why; written in the audit log.
    force : bool
        Mark the audit entry as forced.

    Returns
    -------
    ModelVersion
        The version the alias now points at.

    Raises
    ------
    InvalidNameError
        ``alias`` breaks the naming rules.
    ModelNotFound
        No model, version or alias matches.
    """
    validate_name(alias, "alias")
    mv = get_model_version(f"{name}/{version}")
    reg, _ = _registry()
    reg.move_alias(name, alias, mv.version, user=current_user(), reason=reason, forced=force)
    return get_model_version(f"{name}/{mv.version}")


def delete_alias(name: str, alias: str, reason: str | None = None) -> None:
    """Remove ``name@alias`` (recorded in the audit log).

    Parameters
    ----------
    name : str
        The model name.
    alias : str
        The alias to remove.
    reason : str, optional
        Why; written in the audit log.

    Raises
    ------
    ModelNotFound
        No model, version or alias matches.
    """
    reg, _ = _registry()
    reg.resolve_alias(name, alias)  # raises when the alias points nowhere
    reg.move_alias(name, alias, None, user=current_user(), reason=reason)


def promote(name: str, version: int | str, to_alias: str, *, force: bool = False,
            reason: str | None = None) -> ModelVersion:
    """Move ``to_alias`` to ``version`` only if its most recent checks all passed.

    Parameters
    ----------
    name : str
        The model name.
    version : int or str
        A version number, or an alias whose version is promoted.
    to_alias : str
        The alias to move, e.g. ``"production"``.
    force : bool
        Override the gate; needs a ``reason``.
    reason : str, optional
        Why; written in the audit log.

    Returns
    -------
    ModelVersion
        The promoted version, with its aliases.

    Raises
    ------
    PromotionBlocked
        The version was never checked, or its latest checks failed (``failed`` lists them).
    ValidationError
        ``force=True`` without a reason.
    ModelNotFound
        No model, version or alias matches.
    """
    mv = get_model_version(f"{name}/{version}" if str(version).isdigit() else f"{name}@{version}")
    reg, _ = _registry()
    checks = reg.latest_checks(mv.name, mv.version)
    failed_rows = [{k: c.get(k) for k in ("check", "passed", "value", "threshold", "detail")}
                   for c in checks if not c["passed"]]
    failed = [str(c["check"]) for c in failed_rows]
    if force:
        if not reason:
            raise ValidationError("a forced promotion needs reason=… (it goes in the audit log)")
    elif not checks:
        raise PromotionBlocked(
            f"{mv.ref} has never been checked; run %%modeltest {mv.ref} (or `nbmlops models "
            f"check {mv.ref} --notebook …`) first, or pass force=True with a reason",
            mv.ref,
        )
    elif failed:
        raise PromotionBlocked(
            f"{mv.ref} failed its latest checks ({', '.join(failed)}); fix and re-run the "
            "checks, or pass force=True with a reason",
            mv.ref, failed_rows,
        )
    return set_alias(mv.name, to_alias, mv.version, reason=reason, force=force)


def alias_history(name: str) -> pd.DataFrame:
    """Return the append-only audit log of a model's aliases as a DataFrame.

    Parameters
    ----------
    name : str
        The model name.

    Returns
    -------
    pandas.DataFrame
        Columns at (UTC), alias, from_version, to_version, user, reason, forced; oldest first.

    Raises
    ------
    InvalidNameError
        ``name`` breaks the naming rules.
    """
    import pandas as pd

    validate_name(name, "model")
    reg, _ = _registry()
    rows: list[dict[str, Any]] = reg.alias_history(name)
    for r in rows:
        r["at"] = datetime.fromtimestamp(r["at"], tz=timezone.utc)
        r["forced"] = bool(r["forced"])
    cols = ["at", "alias", "from_version", "to_version", "user", "reason", "forced"]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["id", "name", *cols])[cols]
    # an alias's first assignment has no from_version: missing, not NaN of a float column
    frame["from_version"] = frame["from_version"].astype("Int64")
    frame["reason"] = frame["reason"].astype("string")  # no reason given: missing, not NaN
    return frame


def previous_version(name: str, alias: str = "production") -> int:
    """Return the version ``alias`` pointed at before its current one (for rollback)."""
    reg, _ = _registry()
    current = reg.resolve_alias(name, alias)
    for entry in reversed(reg.alias_history(name, alias)):
        if entry["to_version"] == current and entry["from_version"] not in (None, current):
            return int(entry["from_version"])
    raise ValidationError(f"{name}@{alias} has no earlier version to roll back to")
