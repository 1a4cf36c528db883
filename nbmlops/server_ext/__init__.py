"""The Jupyter server extension behind the JupyterLab MLOps sidebar.

JSON handlers under ``{base_url}nbmlops/api/``: authenticated, same-origin, and backed by
the store nbmlops finds from the server's root directory (or ``NBMLOPS_HOME`` /
``NBMLOPS_STORE_URL``), never by a location taken from a request.
"""

from __future__ import annotations

from typing import Any

#: the URL prefix of every route, below the server's base_url
API_PREFIX = "nbmlops/api"


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the handlers on the running Jupyter server (called by jupyter_server)."""
    from nbmlops.server_ext.handlers import setup_handlers

    root_dir = getattr(server_app, "root_dir", None) or "."
    setup_handlers(server_app.web_app, root_dir)
    server_app.log.info("nbmlops server extension: %s%s/ (store found from %s)",
                        server_app.web_app.settings.get("base_url", "/"), API_PREFIX, root_dir)
