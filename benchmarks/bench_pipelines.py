"""Benchmark: a 5-step nbmlops pipeline (first run, cached run) vs plain papermill.

Run: ``python benchmarks/bench_pipelines.py [--repeat N] [--no-cold]``. Both sides execute
the same five notebooks, one after another, each in a fresh ``python3`` kernel whose
working directory is the project folder; nbmlops also records runs, hashes
inputs/outputs, stores the executed notebooks and decides what to cache.

*Warm* (the main comparison, as in a notebook session or a long-lived scheduler): the
process has already imported papermill and nbmlops, opened the store and read the
installed packages once, in a throwaway project; each repeat then uses a fresh project
and store, and the two sides alternate which goes first (the machine's load drifts).
*Cold* (``python -c`` per side, interpreter start and imports included) shows what one
CLI invocation pays on top. Medians over the repeats; the machine may be shared.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
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


def nbmlops_run(spec: Path) -> tuple[float, list[str], dict[str, float]]:
    """Return (seconds, step statuses, runner phase timings) of one pipeline execution."""
    import nbmlops

    t0 = time.perf_counter()
    result = nbmlops.run_pipeline(spec, progress=False)
    elapsed = time.perf_counter() - t0
    assert result.ok, result.summary()
    # every step that executed has its own recorded duration (moved here from the tests)
    ran = [s for s in result.steps.values() if s.status == "ran"]
    assert all(s.duration is not None and s.duration > 0 for s in ran), result.summary()
    timings = getattr(result, "timings", {})  # older versions have none
    return elapsed, [s.status for s in result.steps.values()], dict(timings, total=elapsed)


def fresh_project(tmp: str) -> Path:
    """Make a project in ``tmp`` with its own nbmlops home and store; return the YAML."""
    from nbmlops import store

    root = Path(tmp)
    os.environ["NBMLOPS_HOME"] = str(root / ".nbmlops")
    store.reset()
    return make_project(root)


def warm_up() -> None:
    """Import both sides, start a kernel once and run one pipeline, in a throwaway project."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = fresh_project(tmp)
        plain_papermill(spec.parent)
        nbmlops_run(spec)


_COLD = {
    "papermill": "import sys, pathlib, time; t0 = time.perf_counter(); import papermill\n"
                 "root = pathlib.Path(sys.argv[1])\n"
                 "for i in range({n}):\n"
                 "    papermill.execute_notebook(str(root / f'step{{i}}.ipynb'), "
                 "str(root / f'pm{{i}}.ipynb'), parameters={{'n': 20000}}, progress_bar=False, "
                 "cwd=str(root))\n",
    "nbmlops": "import sys, time; import nbmlops\n"
               "r = nbmlops.run_pipeline(sys.argv[1] + '/pipeline.yaml', progress=False, "
               "force=True)\nassert r.ok\n",
}


def cold(side: str, root: Path) -> float:
    """Return seconds of ``python -c`` running one side (interpreter start included)."""
    env = dict(os.environ, NBMLOPS_HOME=str(root / ".nbmlops"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _COLD[side].format(n=STEPS), str(root)], env=env,
                   check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    """Print papermill vs nbmlops timings, the ratio and where nbmlops's time went."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true", help="skip the python -c runs")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # kernels' "running over TCP" warnings
    warm_up()
    plain, first, cached, phases = [], [], [], []
    cold_pm, cold_nb = [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            spec = fresh_project(tmp)
            if i % 2:
                t, statuses, timing = nbmlops_run(spec)
                plain.append(plain_papermill(spec.parent))
            else:
                plain.append(plain_papermill(spec.parent))
                t, statuses, timing = nbmlops_run(spec)
            assert statuses == ["ran"] * STEPS
            first.append(t)
            phases.append(timing)
            t, statuses, _ = nbmlops_run(spec)
            assert statuses == ["cached"] * STEPS
            cached.append(t)
            if not args.no_cold:
                sides = [("papermill", cold_pm), ("nbmlops", cold_nb)]
                for side, out in sides[:: -1 if i % 2 else 1]:
                    out.append(cold(side, spec.parent))
            from nbmlops import store

            store.reset()
    pm, nb1, nb2 = (statistics.median(x) for x in (plain, first, cached))
    print(f"{STEPS}-step pipeline, median of {args.repeat} (seconds)")
    print(f"  plain papermill, one after another : {pm:7.2f}   "
          f"(runs: {' '.join(f'{x:.2f}' for x in plain)})")
    print(f"  nbmlops first run (all steps ran)  : {nb1:7.2f}   "
          f"(runs: {' '.join(f'{x:.2f}' for x in first)})")
    print(f"    ratio {nb1 / pm:.3f}, overhead {100 * (nb1 / pm - 1):+.1f}%  (target within 10%)")
    print(f"  nbmlops second run (all cached)    : {nb2:7.2f}   {pm / nb2:.0f}x faster than "
          "papermill  (target < 1 s)")
    print("  nbmlops first run by phase (median seconds):")
    keys = ["validate", "open store", "start run", "prepare", "execute", "record", "finish"]
    med = {k: statistics.median(p.get(k, 0.0) for p in phases) for k in keys + ["total"]}
    for key in keys:
        print(f"    {key:<12} {med[key]:6.3f}")
    print(f"    {'other':<12} {med['total'] - sum(med[k] for k in keys):6.3f}   "
          "(threads, waiting for results)")
    print(f"    execute - papermill = {med['execute'] - pm:+.3f}  (in the kernels: env, "
          "kernel manager, nbmlops.output)")
    if cold_pm:
        cp, cn = statistics.median(cold_pm), statistics.median(cold_nb)
        print(f"  cold, python -c per side (imports included): papermill {cp:.2f}, nbmlops "
              f"{cn:.2f} (--force), overhead {100 * (cn / cp - 1):+.1f}%")


if __name__ == "__main__":
    main()
