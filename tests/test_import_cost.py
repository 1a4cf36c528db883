"""``import nbmlops`` (and the CLI entry point) stay cheap: no heavy module is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["pandas", "sklearn", "sqlalchemy", "papermill", "fastapi", "numpy", "matplotlib",
         "skops", "fsspec", "IPython", "ipywidgets", "onnxruntime", "tornado"]


def _loaded_after(statement: str) -> set[str]:
    code = (f"import sys, json\n{statement}\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize("statement", ["import nbmlops",
                                       "import nbmlops; nbmlops.__version__; dir(nbmlops)",
                                       "import nbmlops.cli"])
def test_import_loads_no_heavy_module(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert "nbmlops" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_check_can_see_heavy_imports() -> None:
    assert {"sqlalchemy", "pandas"} <= _loaded_after("import nbmlops; nbmlops.runs()")
