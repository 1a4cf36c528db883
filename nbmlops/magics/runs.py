"""``%runs`` (the runs table) and ``%nbmlops`` (where the store is and how it is set up)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class, no_var_expand

from nbmlops.errors import NbmlopsError
from nbmlops.magics._ipython import line_magic, strip_comment

_OPTION = re.compile(r"\s*(-e|--experiment|-n|--max)(?:\s+|=)(\S+)")


def parse_runs_line(line: str) -> tuple[str | None, int | None, str | None]:
    """Return (experiment, max_results, filter) from ``[-e NAME] [-n N] [FILTER...]``.

    The filter is taken verbatim (not shell-split) so quotes such as ``params.model = 'rf'``
    survive.
    """
    experiment: str | None = None
    max_results: int | None = None
    rest = strip_comment(line)
    while match := _OPTION.match(rest):
        flag, value = match.groups()
        if flag in ("-e", "--experiment"):
            experiment = value
        else:
            if not value.isdigit():
                raise UsageError(f"{flag} takes a number of runs, got {value!r}")
            max_results = int(value)
        rest = rest[match.end():]
    rest = rest.strip()
    return experiment, max_results, rest or None


@magics_class
class RunsMagics(Magics):
    """``%runs`` and ``%nbmlops``."""

    @no_var_expand
    @line_magic("runs")
    def runs(self, line: str = "") -> Any:
        """Show the runs table, newest first, optionally filtered.

        Usage::

            %runs
            %runs metrics.acc > 0.9 and params.model = 'rf'
            %runs -e churn -n 10 status = 'FINISHED'

        Options (before the filter): ``-e/--experiment NAME``, ``-n/--max N``. The filter
        is the same expression ``nbmlops.runs(filter=...)`` takes, evaluated in SQL.
        Returns the DataFrame, so ``df = %runs`` keeps it.
        """
        from nbmlops.tracking.api import runs

        experiment, max_results, filter_ = parse_runs_line(line)
        try:
            return runs(experiment=experiment, filter=filter_, max_results=max_results)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc

    @line_magic("nbmlops")
    def nbmlops(self, line: str = "") -> StatusTable:
        """Show where the store is and the settings in force.

        Usage::

            %nbmlops
        """
        if strip_comment(line).strip():
            raise UsageError("%nbmlops takes no arguments; it shows the store and settings")
        try:
            return status_table(self.shell)
        except NbmlopsError as exc:
            raise UsageError(str(exc)) from exc


@dataclass(frozen=True)
class StatusTable:
    """What ``%nbmlops`` shows: the store, the settings and the kernel's tracking state."""

    rows: list[tuple[str, str]]

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in self.rows)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th>"
                       f"<td style='text-align:left'><code>{escape(v)}</code></td></tr>"
                       for k, v in self.rows)
        return f"<table class='nbmlops-settings'>{body}</table>"


def status_table(shell: Any) -> StatusTable:
    """Return the settings, the store's counts (from ``nbmlops.store_info``) and kernel state."""
    import os

    from nbmlops._version import __version__
    from nbmlops.config import resolve_settings
    from nbmlops.tracking import active, capture
    from nbmlops.tracking.info import store_info
    from nbmlops.tracking.provenance import get_tracker

    settings = resolve_settings()
    info = store_info(settings=settings)
    run = active.current()
    source = ("NBMLOPS_STORE_URL" if os.environ.get("NBMLOPS_STORE_URL") else
              "NBMLOPS_HOME" if os.environ.get("NBMLOPS_HOME") else "found .nbmlops/ folder")
    rows = [
        ("nbmlops version", __version__),
        ("home", str(settings.home)),
        ("metadata store", info.store_url),
        ("store chosen by", source),
        ("artifact store", info.artifact_url),
        ("schema version", "-" if info.schema_version is None else str(info.schema_version)),
        ("experiments", str(info.experiments)),
        ("runs", str(info.runs)),
        ("models", f"{info.models} ({info.model_versions} versions)"),
        ("deployments", str(info.deployments)),
        ("metric flush interval", f"{settings.flush_interval:g} s"),
        ("heartbeat timeout", f"{settings.heartbeat_timeout:g} s"),
        ("active run", f"{run.name} ({run.id})" if run else "(none)"),
        ("notebook", capture.notebook_path(shell.user_ns) or "(unknown to the kernel)"),
        ("provenance", f"tracking {len(get_tracker(shell).origins)} variables"),
    ]
    return StatusTable(rows)
