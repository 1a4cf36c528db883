"""Benchmark: a 5-step nbmlops pipeline (first run, cached run) vs plain papermill.

Run: ``python benchmarks/bench_pipelines.py [--repeat N]``. Both sides execute the same
five small notebooks one after another in fresh kernels; nbmlops also records runs,
hashes inputs/outputs, stores the executed notebooks and decides what to cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

STEPS = 5


def make_project(root: Path) -> Path:
    """Write five chained notebooks and their pipeline.yaml; return the YAML path."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    lines = ["name: bench", "params: {n: 20000}", "steps:"]
    for i in range(STEPS):
        nb = new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        params = new_code_cell("n = 1000")
        params.metadata["tags"] = ["parameters"]
        src = "" if i == 0 else f"prev = open('out{i - 1}.txt').read()\n"
        nb.cells = [params, new_code_cell("import nbmlops"), new_code_cell(
            src + f"total = sum(k * k for k in range(n))\nopen('out{i}.txt', 'w')"
            ".write(str(total))\nnbmlops.output('total', total)")]
        nbformat.write(nb, str(root / f"step{i}.ipynb"))
        needs = f", needs: [s{i - 1}], inputs: [out{i - 1}.txt]" if i else ""
        lines.append(f"  s{i}: {{notebook: step{i}.ipynb, outputs: [out{i}.txt]{needs}, "
                     "parameters: {n: \"${params.n}\"}}")
    (root / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    return root / "pipeline.yaml"


def plain_papermill(root: Path) -> float:
    """Return seconds to run the five notebooks with papermill.execute_notebook."""
    import papermill

    t0 = time.perf_counter()
    for i in range(STEPS):
        papermill.execute_notebook(str(root / f"step{i}.ipynb"), str(root / f"pm{i}.ipynb"),
                                   parameters={"n": 20000}, progress_bar=False, cwd=str(root))
    return time.perf_counter() - t0


def nbmlops_run(spec: Path) -> tuple[float, list[str]]:
    """Return (seconds, step statuses) of one pipeline execution."""
    import nbmlops

    t0 = time.perf_counter()
    result = nbmlops.run_pipeline(spec, progress=False)
    elapsed = time.perf_counter() - t0
    assert result.ok, result.summary()
    return elapsed, [s.status for s in result.steps.values()]


def main() -> None:
    """Print papermill vs nbmlops timings and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    plain, first, cached = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            os.environ["NBMLOPS_HOME"] = str(root / ".nbmlops")
            from nbmlops import store

            store.reset()
            spec = make_project(root)
            plain.append(plain_papermill(root))
            t, statuses = nbmlops_run(spec)
            assert statuses == ["ran"] * STEPS
            first.append(t)
            t, statuses = nbmlops_run(spec)
            assert statuses == ["cached"] * STEPS
            cached.append(t)
            store.reset()
    pm, nb1, nb2 = (statistics.median(x) for x in (plain, first, cached))
    print(f"{STEPS}-step pipeline, median of {args.repeat} (seconds)")
    print(f"  plain papermill, one after another : {pm:7.2f}")
    overhead = 100 * (nb1 / pm - 1)
    print(f"  nbmlops first run (all steps ran)  : {nb1:7.2f}   overhead {overhead:+.1f}%"
          "  (target within 10%)")
    print(f"  nbmlops second run (all cached)    : {nb2:7.2f}   {pm / nb2:.0f}x faster than "
          "papermill  (target < 1 s)")


if __name__ == "__main__":
    main()
