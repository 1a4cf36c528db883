"""The base of every panel: a VBox with a Refresh button and an inline message line.

It also has an optional refresh timer on the kernel's event loop, and a ``text/html``
snapshot in its mimebundle (what papermill output, nbconvert, GitHub and untrusted
notebooks show).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ipywidgets as w

from nbmlops.errors import NbmlopsError, ValidationError
from nbmlops.widgets import _render as r


def check_refresh(refresh: Any) -> float | None:
    """Return ``refresh`` as seconds (or None); raise ValidationError for anything else."""
    if refresh is None:
        return None
    if isinstance(refresh, bool) or not isinstance(refresh, (int, float)) or not refresh > 0:
        raise ValidationError(
            f"refresh must be a positive number of seconds or None, got {refresh!r}")
    return float(refresh)


def png_image(max_width: str = "640px") -> w.Image:
    """Return an ``Image`` for PNG charts that is hidden while it holds no picture."""
    # align_self: a VBox stretches its children, which would upscale the picture
    image = w.Image(format="png", layout=w.Layout(max_width=max_width, display="none",
                                                  align_self="flex-start"))

    def toggle(change: Any) -> None:
        image.layout.display = "" if len(change["new"]) else "none"

    image.observe(toggle, names="value")
    return image


class AutoRefresh:
    """A refresh timer on the kernel's asyncio loop, cancelled by ``close()``."""

    _handle: asyncio.TimerHandle | None = None
    _closed = False

    def _tick_refresh(self) -> None:
        raise NotImplementedError

    def auto_refresh(self, seconds: float | None) -> None:
        """Re-query every ``seconds`` on the kernel's asyncio loop (None stops it).

        The callback runs between cells, so cells are never blocked; closing the panel
        stops the timer.
        """
        seconds = check_refresh(seconds)
        self._cancel()
        if seconds is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise ValidationError(
                "refresh=SECONDS needs a running event loop, as in a Jupyter kernel; "
                "call .refresh() yourself instead") from None

        def tick() -> None:
            if self._closed:
                return
            self._tick_refresh()
            self._handle = loop.call_later(seconds, tick)

        self._handle = loop.call_later(seconds, tick)

    @property
    def auto_refreshing(self) -> bool:
        """Return whether a refresh timer is scheduled."""
        return self._handle is not None and not self._closed

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        """Stop the refresh timer and close the widget."""
        self._closed = True
        self._cancel()
        super().close()  # type: ignore[misc]


class Panel(AutoRefresh, w.VBox):  # type: ignore[misc]  # ipywidgets ships no type information
    """A dashboard panel that re-queries the core API on ``refresh()``.

    Subclasses build their controls in ``_build`` and fill them in ``_load``; an error
    is shown inline.
    """

    title = "Panel"

    def __init__(self, *, refresh: float | None = None, **kwargs: Any) -> None:
        seconds = check_refresh(refresh)
        self.refresh_button = w.Button(description="Refresh", icon="refresh",
                                       tooltip="Query the store again",
                                       layout=w.Layout(width="auto"))
        self.updated = w.HTML()
        self.message = w.HTML()
        self.refresh_count = 0
        header = w.HBox([w.HTML(r.heading(self.title)), self.refresh_button, self.updated],
                        layout=w.Layout(align_items="center", gap="8px"))
        super().__init__(children=[header, self.message, *self._build()], **kwargs)
        self.refresh_button.on_click(self._on_refresh)
        self.refresh()
        if seconds is not None:
            self.auto_refresh(seconds)

    # to implement ----------------------------------------------------------------------
    def _build(self) -> list[Any]:
        """Return the panel's child widgets (below the header and message line)."""
        return []

    def _load(self) -> None:
        """Query the core API and fill the controls; raise NbmlopsError on failure."""

    def snapshot_html(self) -> str:
        """Return the static HTML of what the panel shows now (tables, PNG charts)."""
        return self.message.value  # type: ignore[no-any-return]

    # refresh ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-query the store through the core API; errors are shown in ``.message``."""
        self.refresh_count += 1
        self.guard(self._load)
        self.updated.value = (f"<span style='color:{r.MUTED};font-size:12px'>updated "
                              f"{time.strftime('%H:%M:%S')}</span>")

    def guard(self, action: Any, *args: Any) -> bool:
        """Run ``action``; on failure show the error inline instead of raising. Return success.

        Widget callbacks run outside any cell: an exception there would only reach the
        browser's log, so this is the boundary where every error becomes a message.
        """
        try:
            action(*args)
        except NbmlopsError as exc:
            self.show(str(exc), "error")
            return False
        except Exception as exc:  # noqa: BLE001 - the widget boundary: show, never lose it
            self.show(f"{type(exc).__name__}: {exc}", "error")
            return False
        return True

    @property
    def message_text(self) -> str:
        """Return the message line as plain text ('' when there is none)."""
        import html
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.message.value)).strip()

    def show(self, text: str, kind: str = "info") -> None:
        """Show a message line under the panel's header ('' clears it)."""
        self.message.value = r.message(text, kind)

    def _tick_refresh(self) -> None:
        self.refresh()

    def _on_refresh(self, _: Any = None) -> None:
        self.show("")
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.snapshot_html()
        return data
