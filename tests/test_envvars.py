"""Every NBMLOPS_* variable the package reads is in the one table the docs are built from."""

from __future__ import annotations

import re
from pathlib import Path

from nbmlops.envvars import VARIABLES


def test_every_variable_in_the_code_is_in_the_table() -> None:
    root = Path(__file__).resolve().parents[1] / "nbmlops"
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if path.name == "envvars.py":
            continue
        found |= set(re.findall(r"NBMLOPS_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    assert found, "no variable found: the scan is broken"
    missing = sorted(found - set(VARIABLES))
    assert not missing, f"add these to nbmlops/envvars.py VARIABLES: {missing}"
    stale = sorted(set(VARIABLES) - found - {"NBMLOPS_TEST_PG_URL", "NBMLOPS_REQUIRE_ALL"})
    assert not stale, f"VARIABLES lists names nothing reads: {stale}"
