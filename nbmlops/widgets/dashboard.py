"""``nbmlops.dashboard()``: every panel in one tabbed widget (needs ``nbmlops[ui]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops.errors import MissingDependencyError

if TYPE_CHECKING:
    from nbmlops.widgets._dashboard import Dashboard


def require_ui() -> None:
    """Raise MissingDependencyError naming the ``ui`` extra when ipywidgets/matplotlib lack."""
    for package, module in (("ipywidgets", "ipywidgets"), ("matplotlib", "matplotlib")):
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingDependencyError(package, "ui") from exc


def dashboard(refresh: float | None = None) -> Dashboard:
    """Return the nbmlops dashboard: runs, models, deployments, monitoring and pipelines tabs.

    Parameters
    ----------
    refresh : float, optional
        Re-query every panel every ``refresh`` seconds on the kernel's event loop (cells
        are never blocked); the timer stops when the widget is closed. Each panel also
        has a Refresh button.

    Returns
    -------
    Dashboard
        An ipywidgets ``VBox`` holding a ``Tab``; the panels are ``.runs``, ``.models``,
        ``.deployments``, ``.monitoring`` and ``.pipelines``. Its mimebundle also carries a
        static ``text/html`` snapshot, shown where widgets cannot render (papermill
        output, nbconvert, GitHub, untrusted notebooks).

    Raises
    ------
    MissingDependencyError
        When ipywidgets or matplotlib is missing: ``pip install 'nbmlops[ui]'``.
    ValidationError
        When ``refresh`` is not a positive number of seconds.
    """
    require_ui()
    from nbmlops.widgets._dashboard import Dashboard

    return Dashboard(refresh=refresh)
