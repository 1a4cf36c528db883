"""jp_fetch against a real in-process Jupyter server with only the nbmlops extension loaded."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import require

try:
    import jupyter_server  # noqa: F401
    import pytest_jupyter  # noqa: F401
except ImportError:  # pragma: no cover - the dev extra installs both
    HAVE_SERVER = False
else:
    HAVE_SERVER = True
    # pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...) and its async-test hooks,
    # for this folder only
    from pytest_jupyter.jupyter_server import *  # noqa: F403

@pytest.fixture(autouse=True)
def _need_server() -> None:
    require(HAVE_SERVER, "jupyter_server and pytest-jupyter are not installed (dev extra)")

@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Only nbmlops, no terminals, and no handler may skip authentication."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"nbmlops": True},
            "allow_unauthenticated_access": False,
            "terminals_enabled": False,
        }
    }
