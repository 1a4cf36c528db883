"""IPython magics, one module per area, each a thin layer over the core's public API.

- ``track.py``: ``%%track`` (a cell becomes a run)
- ``runs.py``: ``%runs`` (the runs table) and ``%nbmlops`` (the store via ``store_info()``)
- ``registry.py``: ``%register``, ``%%modeltest``, ``%promote``
- ``deploy.py``: ``%deploy`` (start, dry-run, list, stop, roll back)
- ``pipeline.py``: ``%pipeline run|validate`` and ``%reproduce``
- ``_ipython.py``: typed views of IPython's decorators, argument parsing

A magic parses its line, calls a core function, and shows the result; the lines it
prints come from ``nbmlops._format`` so they match the CLI's. Errors become one-line
``UsageError``s. No magic imports ``nbmlops.store`` or a core module's private names
(``tests/test_layers.py``).

Registering must stay fast (``%load_ext nbmlops``): the Magics modules import only
IPython and nbmlops' light modules; pandas, scikit-learn and SQLAlchemy load when a
magic first runs.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

#: "module:Class" of every Magics class registered by ``%load_ext nbmlops``
MAGICS: list[str] = [
    "nbmlops.magics.track:TrackMagics",
    "nbmlops.magics.runs:RunsMagics",
    "nbmlops.magics.registry:RegistryMagics",
    "nbmlops.magics.deploy:DeployMagics",
    "nbmlops.magics.pipeline:PipelineMagics",
]


def register(ipython: Any) -> None:
    """Register every class in MAGICS on ``ipython`` and start provenance tracking."""
    from nbmlops.tracking.provenance import get_tracker

    for target in MAGICS:
        module, cls = target.split(":")
        ipython.register_magics(getattr(importlib.import_module(module), cls))
    get_tracker(ipython)
    from nbmlops.tracking.capture import warm_up

    warm_up()
    from nbmlops.registry.versions import on_register

    on_register(_prewarm)  # a registration in a notebook: a deploy is likely next
    if os.environ.get("NBMLOPS_PREWARM") == "load":
        _prewarm()


def _prewarm(*_: Any) -> None:
    """Start the serving warm host in the background (see serving.deployments)."""
    from nbmlops.serving.deployments import prewarm_on_register

    prewarm_on_register()
