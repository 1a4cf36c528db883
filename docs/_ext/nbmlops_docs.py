"""Sphinx directives that generate nbmlops references from the code itself.

- ``nbmlops-magics``: every magic registered by ``%load_ext nbmlops``, with the help
  IPython prints for ``%magic?`` (built from each magic's ``magic_arguments``).
- ``nbmlops-config``: the table of ``NBMLOPS_*`` variables in ``nbmlops/envvars.py``.
- ``nbmlops-api``: autodoc of every name in ``nbmlops.__all__``.
- ``nbmlops-guides``: a toctree of every top-level page not placed elsewhere.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

#: top-level pages the index places itself; every other top-level page is a user guide
PLACED = {"index", "getting-started", "security", "comparison"}


def magic_entries() -> list[tuple[str, str, str]]:
    """Return (kind, name, help) for every nbmlops magic, in registration order."""
    from nbmlops.magics import MAGICS

    out = []
    for target in MAGICS:
        module, cls_name = target.split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        for kind in ("line", "cell"):
            for name, method in cls.magics[kind].items():
                doc = inspect.getdoc(getattr(cls, method)) or ""
                out.append((kind, name, doc))
    return out


class _Rst(SphinxDirective):
    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        # The pages are MyST: hand the generated reStructuredText over in an eval-rst fence.
        fence = ["````{eval-rst}", *lines, "````"]
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(fence), self.content_offset, node)
        return list(node.children)


class MagicsDirective(_Rst):
    """Render every magic's ``%magic?`` help."""

    def run(self) -> list[nodes.Node]:
        """Return the help of every magic as literal blocks."""
        lines: list[str] = []
        for kind, name, doc in magic_entries():
            prefix = "%%" if kind == "cell" else "%"
            title = f"``{prefix}{name}``"
            lines += [title, "-" * len(title), "", ".. code-block:: text", ""]
            lines += ["    " + line for line in (doc or "(no help)").splitlines()]
            lines += [""]
        return self._parse(lines)


class ConfigDirective(_Rst):
    """Render the NBMLOPS_* table."""

    def run(self) -> list[nodes.Node]:
        """Return the table of NBMLOPS_* variables."""
        from nbmlops.envvars import VARIABLES

        lines = [".. list-table::", "   :header-rows: 1", "", "   * - variable",
                 "     - default", "     - set by", "     - what it does"]
        for name, (default, who, what) in sorted(VARIABLES.items()):
            lines += [f"   * - ``{name}``", f"     - {default}", f"     - {who}",
                      f"     - {what}"]
        return self._parse(lines)


class ApiDirective(_Rst):
    """Render autodoc entries for every name in ``nbmlops.__all__``, in that order."""

    def run(self) -> list[nodes.Node]:
        """Return autodoc entries for every public name."""
        import nbmlops

        lines = [".. currentmodule:: nbmlops", ""]
        for name in nbmlops.__all__:
            if name in ("__version__", "load_ipython_extension"):
                continue
            obj = getattr(nbmlops, name)
            if inspect.isclass(obj):
                lines += [f".. autoclass:: {name}", "   :members:", ""]
            else:
                lines += [f".. autofunction:: {name}", ""]
        return self._parse(lines)


class GuidesDirective(_Rst):
    """A toctree of the top-level user-guide pages (new pages join without an edit)."""

    def run(self) -> list[nodes.Node]:
        """Return a toctree of the user-guide pages."""
        docs = Path(self.env.srcdir)
        pages = sorted(p.stem for p in docs.glob("*.md") if p.stem not in PLACED)
        lines = [".. toctree::", "   :maxdepth: 1", "", *[f"   /{p}" for p in pages]]
        return self._parse(lines)


def setup(app: Any) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("nbmlops-magics", MagicsDirective)
    app.add_directive("nbmlops-config", ConfigDirective)
    app.add_directive("nbmlops-api", ApiDirective)
    app.add_directive("nbmlops-guides", GuidesDirective)
    return {"parallel_read_safe": True, "version": "1"}
