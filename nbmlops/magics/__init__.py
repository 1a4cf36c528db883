"""IPython magics: ``%%track``, ``%runs``, ``%nbmlops`` (and those later issues add).

Registering must stay fast (``%load_ext nbmlops``): the Magics modules import only
IPython and nbmlops' light modules; pandas, scikit-learn and SQLAlchemy load when a
magic first runs.
"""

from __future__ import annotations

import importlib
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
