"""The model card of a version (pure HTML formatting)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbmlops.registry.versions import ModelVersion


def model_card_html(mv: ModelVersion) -> str:
    """Return the HTML card of a model version."""
    unsafe = " <b style='color:#cf222e'>UNSAFE pickle</b>" if mv.unsafe else ""
    aliases = ", ".join(f"@{a}" for a in mv.aliases) or "no aliases"
    metrics = "".join(f"<tr><td><code>{escape(k)}</code></td><td>{v:.6g}</td></tr>"
                      for k, v in sorted(mv.metrics.items()))
    return (
        f"<div class='nbmlops-model-card'><b>{escape(mv.ref)}</b> · {escape(mv.flavor)}{unsafe}"
        f" · {escape(aliases)} · run <code>{mv.run_id}</code>"
        f"<table>{metrics}</table></div>"
    )
