"""Sphinx configuration: myst pages, myst-nb notebooks, references generated from the code.

The references come from autodoc, sphinx-click, the magics' own help, the OpenAPI
document and the configuration table.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import nbmlops  # noqa: E402

project = "nbmlops"
author = "the nbmlops developers"
copyright = "2026, the nbmlops developers"  # noqa: A001
release = version = nbmlops.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "sphinxcontrib.openapi",
    "nbmlops_docs",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "api/*.yaml"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# The notebooks are executed by the test suite (papermill, a real kernel, real servers);
# the site renders what the copy below holds.
nb_execution_mode = "off"
# Notebook cells use IPython syntax (!shell, %magics) and some pages show JSON with "…"
# elisions: Pygments falls back to plain text for those, which is what a reader wants.
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "pydata_sphinx_theme"
html_title = "nbmlops"
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}

# The tutorial is the example notebooks themselves: copy them in at build time.
_tutorial = DOCS / "tutorial"
_tutorial.mkdir(exist_ok=True)
for nb in sorted((ROOT / "example_notebooks").glob("*.ipynb")):
    shutil.copy2(nb, _tutorial / nb.name)
