"""The interfaces (magics, CLI, widgets, server extension) stay thin over one core.

ARCHITECTURE's layer table: an interface parses input, calls the core's public functions
and renders the result. This test reads every interface module's imports (AST, so imports
inside functions count too) and fails on

- any import of ``nbmlops.store`` (SQL and artifact I/O belong to the core services), and
- any private name or private module taken from outside the interface's own package
  (``from nbmlops.registry.versions import _registry`` reaches around the public API).

Allowed, and why:

- ``nbmlops._version`` (the version string) and ``nbmlops._format`` (the formatting shared by
  the magics and the CLI, so that both print the same lines) are private to nbmlops, not to
  a core service: every interface may use them.
- A package's own private modules (``nbmlops.magics._ipython``).
- ``ALLOWED`` below: each entry names one module, one import and why it cannot go through the
  core. Adding an entry needs a reason a reviewer can check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nbmlops"
INTERFACES = ("magics", "cli", "widgets", "server_ext")
SHARED_PRIVATE = {"nbmlops._version", "nbmlops._format"}

#: (module path relative to nbmlops/, imported module) -> why it is allowed
ALLOWED: dict[tuple[str, str], str] = {
    ("server_ext/handlers.py", "nbmlops.store"): (
        "store.reset() drops the cached engine when the store file is deleted while the "
        "Jupyter server keeps running; the server is the only long-lived process that "
        "outlives its store, and no core verb owns the engine cache"
    ),
}


def interface_files() -> list[Path]:
    """Return every Python file of the interface packages that exist."""
    return sorted(f for pkg in INTERFACES for f in (PACKAGE / pkg).rglob("*.py"))


def imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str, str | None]]:
    """Return (line, module, name or None) for every import in ``path``, relative ones resolved."""
    package = ".".join(("nbmlops", *path.relative_to(root).parent.parts))
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def violations(path: Path, root: Path = PACKAGE) -> list[str]:
    """Return one line per import of ``path`` (a file under ``root``) that breaks the rules."""
    rel = path.relative_to(root).as_posix()
    own = "nbmlops." + rel.split("/")[0]
    out = []
    for line, module, name in imports(path, root):
        full = f"{module}.{name}" if name else module
        where = f"nbmlops/{rel}:{line}"
        if not (module == "nbmlops" or module.startswith("nbmlops.")):
            continue
        if full == "nbmlops.store" or full.startswith("nbmlops.store."):
            if (rel, "nbmlops.store") not in ALLOWED:
                out.append(f"{where} imports {full}: the store is the core's, call a core function")
            continue
        if module.startswith(own) or module in SHARED_PRIVATE:
            continue
        private_part = any(p.startswith("_") for p in module.split(".")[1:])
        if private_part or (name is not None and name.startswith("_")):
            out.append(f"{where} imports private {full}: use (or add) a public function")
    return out


def test_there_are_interface_modules_to_check() -> None:
    assert len(interface_files()) >= 10


@pytest.mark.parametrize("path", interface_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_interfaces_use_only_the_public_core(path: Path) -> None:
    assert violations(path) == []


def test_the_rule_catches_what_it_is_for(tmp_path: Path) -> None:
    """Bad imports are reported, including ones inside functions and relative ones."""
    fake = tmp_path / "nbmlops"
    (fake / "magics").mkdir(parents=True)
    bad = fake / "magics" / "bad.py"
    bad.write_text(
        "from nbmlops.store import open_store\n"
        "import nbmlops.store.sql\n"
        "def f():\n"
        "    from nbmlops import store\n"
        "    from nbmlops.registry.versions import _registry\n"
        "    from ..tracking._private import thing\n"
        "    from nbmlops._format import number\n"
        "    from ._ipython import line_magic\n"
        "    from nbmlops.tracking.info import store_info\n"
    )
    found = violations(bad, root=fake)
    assert [v.split(" imports ")[0].rsplit(":", 1)[1] for v in found] == ["1", "2", "4", "5", "6"]
    assert "nbmlops.registry.versions._registry" in found[3]
    assert "nbmlops.tracking._private.thing" in found[4]
