"""The interfaces (magics, CLI, widgets, server extension) stay thin over one core.

ARCHITECTURE's layer table: an interface parses input, calls the core's public functions
and renders the result. This test reads every interface module's imports (AST, so imports
inside functions count too) and fails on

- any import of ``nbmlops.store`` (SQL and artifact I/O belong to the core services), and
- any private name or private module taken from outside the interface's own package
  (``from nbmlops.registry.versions import _registry`` reaches around the public API), and
- any read of another object's private attribute (``deployment._row``): core objects show
  what interfaces need as declared public fields. IPython's display hooks (``_repr_*_``,
  ``_ipython_*_``) are public protocol, not private.

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


def private_attributes(path: Path, root: Path = PACKAGE) -> list[str]:
    """Return one line per ``obj._name`` in ``path`` where obj is not self, cls or super()."""
    rel = path.relative_to(root).as_posix()
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
            continue
        if node.attr.startswith("__") or node.attr.startswith(("_repr_", "_ipython_")):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) \
                and base.func.id == "super":
            continue
        out.append(f"nbmlops/{rel}:{node.lineno} reads {ast.unparse(node)}")
    return out


def test_every_allowed_exception_is_still_needed() -> None:
    """An exception whose import is gone must leave ALLOWED with it."""
    for rel, module in ALLOWED:
        found = [(m, n) for _, m, n in imports(PACKAGE / rel)]
        assert any(m == module or f"{m}.{n}" == module or m.startswith(module + ".")
                   for m, n in found), (rel, module)


def test_there_are_interface_modules_to_check() -> None:
    assert len(interface_files()) >= 10


@pytest.mark.parametrize("path", interface_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_interfaces_use_only_the_public_core(path: Path) -> None:
    assert violations(path) == []
    assert private_attributes(path) == []


def magic_module(tmp_path: Path, source: str) -> tuple[Path, Path]:
    """Return (file, package root) of a fake ``nbmlops/magics/bad.py`` holding ``source``."""
    root = tmp_path / "nbmlops"
    (root / "magics").mkdir(parents=True)
    (root / "magics" / "bad.py").write_text(source)
    return root / "magics" / "bad.py", root


def test_the_rule_catches_what_it_is_for(tmp_path: Path) -> None:
    """Bad imports are reported, including ones inside functions and relative ones."""
    bad, root = magic_module(
        tmp_path,
        "from nbmlops.store import open_store\n"
        "import nbmlops.store.sql\n"
        "def f():\n"
        "    from nbmlops import store\n"
        "    from nbmlops.registry.versions import _registry\n"
        "    from ..tracking._private import thing\n"
        "    from nbmlops._format import number\n"
        "    from ._ipython import line_magic\n"
        "    from nbmlops.tracking.info import store_info\n",
    )
    found = violations(bad, root=root)
    assert [v.split(" imports ")[0].rsplit(":", 1)[1] for v in found] == ["1", "2", "4", "5", "6"]
    assert "nbmlops.registry.versions._registry" in found[3]
    assert "nbmlops.tracking._private.thing" in found[4]


def test_private_attribute_reads_are_caught(tmp_path: Path) -> None:
    bad, root = magic_module(
        tmp_path,
        "def f(dep, mv):\n"
        "    print(dep._row['version'], dep._token)\n"
        "    return mv._repr_html_(), super()._repr_mimebundle_(), dep.__class__\n"
        "class A:\n"
        "    def g(self):\n"
        "        return self._cache\n",
    )
    found = sorted(private_attributes(bad, root=root))
    assert found == ["nbmlops/magics/bad.py:2 reads dep._row",
                     "nbmlops/magics/bad.py:2 reads dep._token"]
