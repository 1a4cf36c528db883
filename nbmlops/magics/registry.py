"""Registry magics: ``%register``, ``%%modeltest`` and ``%promote``."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from nbmlops.errors import NbmlopsError
from nbmlops.magics._ipython import (
    argument,
    cell_magic,
    line_magic,
    magic_arguments,
    parse_argstring,
    strip_comment,
)


@magics_class
class RegistryMagics(Magics):
    """Register model versions, test them, and promote them behind their checks."""

    @magic_arguments()
    @argument("name", help="Model name ([A-Za-z0-9._-]).")
    @argument("--run", default="last",
              help="Run id, or 'last' (the active run, else the latest one). Default: last.")
    @argument("--model", default="model",
              help="A variable holding a fitted model (logged into the run first if it is "
                   "not there yet), or the name of a model artifact of the run.")
    @argument("--alias", default=None, help="Point this alias at the new version.")
    @argument("--description", default=None, help="Description kept with the version.")
    @argument("--unsafe-pickle", action="store_true",
              help="Allow saving the variable with pickle (loading it can run code).")
    @line_magic("register")
    def register(self, line: str) -> Any:
        """Register a run's model as the next version of NAME.

        Usage::

            %register churn --run last --alias staging
            %register churn --model rf            # a variable: logged into the run first

        Returns the new ModelVersion, which shows as its model card.
        """
        from nbmlops.registry.aliases import set_alias
        from nbmlops.registry.versions import register_model

        args = parse_argstring(self.register, line)
        assert self.shell is not None  # magics are always registered on a shell
        try:
            model = _model_argument(args.model, args.run, self.shell.user_ns)
            mv = register_model(args.name, run=args.run, model=model, artifact=args.model,
                                description=_unquote(args.description),
                                unsafe_pickle=args.unsafe_pickle)
            if args.alias:
                mv = set_alias(mv.name, args.alias, mv.version,
                               reason=f"set by %register {strip_comment(line).strip()}")
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        return mv

    @magic_arguments()
    @argument("ref", help="The version to test: NAME/VERSION or NAME@ALIAS.")
    @argument("--promote-to", dest="promote_to", default=None, metavar="ALIAS",
              help="Move ALIAS to the version if every check passes.")
    @argument("--trusted", nargs="*", default=None, metavar="TYPE",
              help="Extra skops types to trust when loading the model.")
    @cell_magic("modeltest")
    def modeltest(self, line: str, cell: str) -> Any:
        """Run the cell as checks against a model version and store the results.

        Usage::

            %%modeltest churn@staging --promote-to production
            from nbmlops.checks import check_metric, check_latency
            check_metric("accuracy", accuracy_score, X_test, y_test, min=0.85)
            check_latency(X_test[:20], p95_ms=50)
            assert model_version.signature is not None   # plain asserts count as checks

        The cell sees ``model`` (the loaded model) and ``model_version`` (its ModelVersion).
        Results show as a table and are stored as one batch; ``%promote`` and
        ``nbmlops.promote`` look at the latest batch.
        """
        from IPython.display import display

        from nbmlops._format import promoted
        from nbmlops.registry.aliases import promote
        from nbmlops.registry.check_runner import run_check_cell

        args = parse_argstring(self.modeltest, line)
        options = {"trusted": args.trusted} if args.trusted else {}
        try:
            suite = run_check_cell(self.shell, args.ref, cell, **options)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        display(suite)
        if args.promote_to:
            if not suite.passed:
                raise UsageError(f"{suite.version.ref} was not promoted to @{args.promote_to}: "
                                 f"{len(suite.failed)} of {len(suite.results)} checks failed")
            mv = suite.version
            try:
                was = _alias_target(mv.name, args.promote_to)
                promote(mv.name, mv.version, args.promote_to,
                        reason=f"%%modeltest passed ({len(suite.results)} checks)")
            except NbmlopsError as exc:
                raise UsageError(str(exc)) from exc
            print(promoted(mv.name, args.promote_to, mv.version, was=was))
        return None

    @magic_arguments()
    @argument("ref", help="The version to promote: NAME/VERSION or NAME@ALIAS.")
    @argument("alias", help="The alias to move, e.g. production.")
    @argument("--force", action="store_true",
              help="Promote even though the latest checks failed or never ran (needs --reason).")
    @argument("--reason", default=None, help="Why; written in the audit log.")
    @line_magic("promote")
    def promote(self, line: str) -> None:
        """Move an alias to a version whose latest checks all passed.

        Usage::

            %promote churn/3 production
            %promote churn@staging production --force --reason "hotfix, checks rerun later"
        """
        from nbmlops._format import promoted
        from nbmlops.registry.aliases import promote
        from nbmlops.registry.refs import parse_ref
        from nbmlops.registry.versions import resolve_version

        args = parse_argstring(self.promote, line)
        try:
            name, version = resolve_version(parse_ref(args.ref))
            before = _alias_target(name, args.alias)
            promote(name, version, args.alias, force=args.force, reason=_unquote(args.reason))
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc
        print(promoted(name, args.alias, version, was=before, forced=args.force))


def _unquote(text: str | None) -> str | None:
    """Return ``text`` without one pair of surrounding quotes (IPython keeps them)."""
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _model_argument(name: str, run: str, ns: dict[str, Any]) -> Any:
    """Return the artifact name to register, or the object to log first.

    A variable already logged by ``%%track`` (an artifact of the same name) is not logged
    twice; any other variable holding a model is.
    """
    from nbmlops.tracking.api import resolve_run

    value = ns.get(name)
    if value is None or isinstance(value, str):
        return name
    source = resolve_run(run)
    if any(a.name == name for a in source.artifacts):
        return name
    return value


def _alias_target(name: str, alias: str) -> int | None:
    from nbmlops.registry.aliases import model_aliases

    return model_aliases(name).get(alias)


def load_ipython_extension(ipython: Any) -> None:
    """Register only the registry magics (``%load_ext nbmlops.magics.registry``)."""
    ipython.register_magics(RegistryMagics)
