"""The documentation site builds with warnings as errors, and its references are complete.

The references are generated from the code (autodoc of ``nbmlops.__all__``, the magics'
own help, sphinx-click, the configuration table); these tests build the site once and
fail when a public name, a magic, a CLI command or a variable is missing from it.
"""

from __future__ import annotations

import html
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

import nbmlops
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import myst_nb  # noqa: F401
        import sphinx_click  # noqa: F401
    except ImportError:
        require(False, "the docs extra is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _page(site: Path, rel: str) -> str:
    return html.unescape((site / rel).read_text())


def test_every_public_name_is_in_the_python_reference(site: Path) -> None:
    page = _page(site, "reference/python.html")
    public = [n for n in nbmlops.__all__ if n not in ("__version__", "load_ipython_extension")]
    missing = [n for n in public if f'id="nbmlops.{n}"' not in page]
    assert not missing


def _magics() -> Iterator[str]:
    from IPython.core.interactiveshell import InteractiveShell

    from nbmlops.magics import MAGICS

    shell = InteractiveShell.instance()
    classes = {target.split(":")[1] for target in MAGICS}
    nbmlops.load_ipython_extension(shell)
    for kind, prefix in (("line", "%"), ("cell", "%%")):
        for name, fn in shell.magics_manager.magics[kind].items():
            if type(getattr(fn, "__self__", None)).__name__ in classes:
                yield prefix + name


def test_every_magic_is_in_the_magics_reference(site: Path) -> None:
    page = _page(site, "reference/magics.html")
    magics = list(_magics())
    assert "%%track" in magics and "%deploy" in magics
    assert not [m for m in magics if f"<span class=\"pre\">{m}</span>" not in page]


def _commands(group: click.Command, path: str = "nbmlops") -> Iterator[str]:
    yield path
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, f"{path}-{name}")


def test_every_cli_command_is_in_the_cli_reference(site: Path) -> None:
    from nbmlops.cli import cli

    page = _page(site, "reference/cli.html")
    commands = list(_commands(cli))
    assert "nbmlops-store-upgrade" in commands
    assert not [c for c in commands[1:] if f'id="{c}"' not in page]


def test_every_variable_is_in_the_config_reference(site: Path) -> None:
    from nbmlops.envvars import VARIABLES

    page = _page(site, "reference/config.html")
    assert not [v for v in VARIABLES if v not in page]


def test_the_tutorial_renders_every_example_notebook(site: Path) -> None:
    for nb in (ROOT / "example_notebooks").glob("*.ipynb"):
        assert (site / "tutorial" / f"{nb.stem}.html").exists(), nb.name
