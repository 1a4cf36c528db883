"""The sidebar's REST API on a 10,000-run store: GET runs (one page) through a real JupyterLab.

Side by side: the same page read in-process with ``nbmlops.runs_page`` (what the handler
calls), so the ratio is the cost of Jupyter's HTTP layer, auth and the worker thread.
Also a filtered page, a deep page (page token at offset 9,950), one run's detail and the
models list. Run: ``.venv/bin/python benchmarks/bench_sidebar_api.py [--runs 10000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"median {statistics.median(ms):7.2f} ms   p95 {q[18]:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nbmlops-bench-sidebar-"))
    os.environ["NBMLOPS_HOME"] = str(tmp / ".nbmlops")
    import numpy as np
    import pandas as pd

    import nbmlops

    rng = np.random.default_rng(0)
    n = args.runs
    frame = pd.DataFrame({
        "name": [f"run-{i}" for i in range(n)],
        "params.alpha": rng.uniform(0, 1, n), "params.depth": rng.integers(1, 10, n),
        "metrics.acc": rng.uniform(0.5, 1, n), "metrics.loss": rng.uniform(0, 1, n),
    })
    t0 = time.perf_counter()
    ids = nbmlops.log_runs(frame, "bench")
    print(f"store: {n} runs written in {time.perf_counter() - t0:.1f} s")

    from nbmlops.server_ext.handlers import _run_detail as run_detail
    from tests._jupyterlab import jupyterlab

    with jupyterlab(tmp / "root") as lab:
        def get(path: str) -> dict:  # type: ignore[type-arg]
            req = urllib.request.Request(f"{lab.base}/nbmlops/api/{path}",
                                         headers={"Authorization": f"token {lab.token}"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)  # type: ignore[no-any-return]

        first = get("runs?page_size=50")
        assert len(first["runs"]) == 50 and first["total"] == n
        # the token of the last page, walked once through the API itself
        token = first["next_page_token"]
        for _ in range((n // 50) - 2):
            token = get(f"runs?page_size=50&page_token={token}")["next_page_token"]
        deep_token = token
        rows = [
            ("GET runs (page of 50)", lambda: get("runs?page_size=50"),
             lambda: nbmlops.runs_page(page_size=50)),
            ("GET runs filter acc>0.9",
             lambda: get("runs?page_size=50&filter=metrics.acc%20%3E%200.9"),
             lambda: nbmlops.runs_page(filter="metrics.acc > 0.9", page_size=50)),
            (f"GET runs last page (offset {n - 50})",
             lambda: get(f"runs?page_size=50&page_token={deep_token}"),
             lambda: nbmlops.runs_page(page_size=50, page_token=deep_token)),
            ("GET runs/{id} (detail + curves)", lambda: get(f"runs/{ids[0]}"),
             lambda: run_detail(ids[0])),
        ]
        print(f"\n{'route':36} {'HTTP (JupyterLab)':34} {'in-process core call':34} ratio")
        for label, http, core in rows:
            h = timed(http, args.repeats)
            c = timed(core, args.repeats)
            ratio = statistics.median(h) / statistics.median(c)
            print(f"{label:36} {summary(h):34} {summary(c):34} {ratio:4.1f}x")


if __name__ == "__main__":
    main()
