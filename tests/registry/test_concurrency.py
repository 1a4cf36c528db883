"""Several processes registering the same model at once get unique, consecutive versions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbmlops

WORKER = """
import sys
import nbmlops
for _ in range(int(sys.argv[2])):
    nbmlops.register_model("shared", run=sys.argv[1])
"""


def test_four_processes_register_twenty_versions(trained_run, nbmlops_home: Path) -> None:
    run = trained_run()
    env = {**os.environ, "NBMLOPS_HOME": str(nbmlops_home)}
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, run.id, "5"], env=env, cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    versions = sorted(nbmlops.list_versions("shared")["version"])
    assert versions == list(range(1, 21))
    models = nbmlops.list_models()
    assert models.loc[0, "versions"] == 20 and models.loc[0, "latest_version"] == 20
