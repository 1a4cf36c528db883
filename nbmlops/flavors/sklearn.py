"""scikit-learn models saved with skops and loaded under an explicit trusted-type policy.

The policy: skops lists every type a file would rebuild. Types from scikit-learn, NumPy
and SciPy are trusted (skops rebuilds them from their state without running code from the
file). Anything else — a custom transformer, a function from your own module — is refused
unless the *loader* trusts it explicitly, with ``trusted=[...]`` or the comma-separated
``NBMLOPS_TRUSTED_TYPES`` variable. Trust given when saving is recorded on the artifact
(``meta["needs_trust"]``) for display only: it never carries over to whoever loads it.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from typing import Any

from nbmlops.errors import UnsafeModelError
from nbmlops.flavors.base import BaseFlavor

#: Types from these packages are trusted: skops rebuilds them without running their code.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
TRUSTED_ENV = "NBMLOPS_TRUSTED_TYPES"


def extra_trusted() -> list[str]:
    """Return the types trusted through ``NBMLOPS_TRUSTED_TYPES``."""
    raw = os.environ.get(TRUSTED_ENV, "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def import_skops_lean() -> None:
    """Import ``skops.io`` without its ``all_estimators()`` scan; for serving processes.

    At import, skops builds its default trust list by calling scikit-learn's
    ``all_estimators()``, which imports every scikit-learn module (datasets, the test
    utilities, pytest, dask…): ~1 s of a server's start-up. nbmlops never relies on that
    list: :meth:`SklearnFlavor.load` always passes the types it trusts by its own policy.
    Importing with the scan skipped leaves skops' default list of estimators empty, so
    skops trusts *fewer* types by default, never more. Not used in a user's kernel, where
    code may call skops directly and expect its defaults. Does nothing without
    scikit-learn.
    """
    if "skops.io" in sys.modules:
        return
    try:
        import sklearn.utils
    except ImportError:  # no scikit-learn here: its models cannot be served anyway
        return

    scan = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []  # read once, at skops' import
    try:
        import skops.io  # noqa: F401
    finally:
        sklearn.utils.all_estimators = scan


def types_in(data: bytes) -> list[str]:
    """Return the type names a skops file's schema mentions (read as JSON; nothing rebuilt).

    Lets :meth:`SklearnFlavor.load` pass skops an explicit trusted list in one pass; a
    type this misses is refused by skops and audited the slow way, so it cannot widen
    trust. Returns an empty list for anything that is not a readable skops file.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        return []
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for mod, name in ((node.get("__module__"), node.get("__class__")),
                              (node.get("module_path"), node.get("function"))):
                if isinstance(mod, str) and isinstance(name, str):
                    found.add(f"{mod}.{name}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def untrusted_types(data: bytes, trusted: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Return (types skops asks about, those outside the policy, ``trusted`` and the env)."""
    import skops.io as sio

    asked = list(sio.get_untrusted_types(data=data))
    allowed = set(trusted or []) | set(extra_trusted())
    refused = [t for t in asked if not t.startswith(TRUSTED_PREFIXES) and t not in allowed]
    return asked, refused


def outside_policy(data: bytes) -> list[str]:
    """Return the types in a skops file that the built-in policy does not trust."""
    import skops.io as sio

    return [t for t in sio.get_untrusted_types(data=data) if not t.startswith(TRUSTED_PREFIXES)]


def _refusal(refused: list[str], verb: str) -> UnsafeModelError:
    names = ", ".join(refused)
    how = (f"pass trusted={refused!r} to load_model (or log_model when saving), or set "
           f"{TRUSTED_ENV}={','.join(refused)}")
    return UnsafeModelError(
        f"refusing to {verb} this model: it contains types outside the trusted policy "
        f"(scikit-learn, NumPy, SciPy): {names}. Loading them imports and rebuilds code "
        f"you have not vetted. If you trust them, {how}"
    )


class SklearnFlavor(BaseFlavor):
    """scikit-learn estimators and Pipelines (ColumnTransformer, preprocessors…) via skops."""

    name = "sklearn"
    media_type = "application/x-skops"

    def can_save(self, model: Any) -> bool:
        """Return whether ``model`` is a scikit-learn estimator."""
        try:
            from sklearn.base import BaseEstimator
        except ImportError:
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, **options: Any) -> tuple[bytes, dict[str, Any]]:
        """Return skops bytes; refuse models that could not be loaded back safely."""
        import sklearn
        import skops.io as sio

        trusted = list(options.get("trusted") or [])
        try:
            # deflate: a forest's skops file shrinks ~9x (smaller than its pickle) for a
            # few ms more to load
            data = sio.dumps(model, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        except Exception as exc:
            raise UnsafeModelError(
                f"skops cannot save this {type(model).__name__} ({exc}); models holding "
                "lambdas or local functions cannot be stored safely: use a module-level "
                "function, or unsafe_pickle=True"
            ) from exc
        _, refused = untrusted_types(data, trusted)
        if refused:
            raise _refusal(refused, "save")
        meta = {
            "flavor": self.name,
            "class": f"{type(model).__module__}.{type(model).__name__}",
            "sklearn_version": sklearn.__version__,
            "needs_trust": outside_policy(data),
            # every type skops will be asked to rebuild: lets load check and rebuild in one
            # pass (skops still refuses anything not listed, so this list cannot widen trust)
            "skops_types": list(sio.get_untrusted_types(data=data)),
        }
        return data, meta

    def load(self, data: bytes, meta: dict[str, Any], **options: Any) -> Any:
        """Return the model; refuse any type outside the policy the caller did not trust."""
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        trusted = list(options.get("trusted") or [])
        allowed = set(trusted) | set(extra_trusted())
        known = meta.get("skops_types")
        # the types the file names, filtered by the policy: rebuilt in one pass (skops
        # still refuses any type not listed, so neither list can widen trust)
        named = types_in(data) + (known if isinstance(known, list) else [])
        ok = sorted({t for t in named if isinstance(t, str)
                     and (t.startswith(TRUSTED_PREFIXES) or t in allowed)})
        try:
            return sio.loads(data, trusted=ok)
        except UntrustedTypesFoundException:
            pass  # audit the whole file below, to name what is refused
        asked, refused = untrusted_types(data, trusted)
        if refused:
            raise _refusal(refused, "load")
        return sio.loads(data, trusted=asked)
