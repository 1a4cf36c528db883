"""Tracking benchmark: nbmlops side by side with MLflow (SQLite store and file store).

Run ``python benchmarks/bench_tracking.py [--quick]``. Prints one table and the ratios
(MLflow time / nbmlops time, so bigger is better for nbmlops):

(a) N ``log_metric`` calls one at a time inside a run, until the data is durable
    (nbmlops: including the flush in ``end_run``; MLflow writes synchronously per call);
(b) R runs with 5 params and 5 metrics each (creation time), then a filtered query
    ``metrics.m0 > 0.5 and params.p0 = 'x'`` timed on its own (one warm-up call,
    then the median of 11);
(c) import time in a fresh interpreter (median of several): ``import nbmlops``, the
    ``%load_ext nbmlops`` path, and ``import mlflow``.
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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARAMS, METRICS = 5, 5
FILTER = "metrics.m0 > 0.5 and params.p0 = 'x'"


# nbmlops ---------------------------------------------------------------------------
def _nb_settings(folder: Path) -> Any:
    from nbmlops.config import resolve_settings

    return resolve_settings(home=folder / ".nbmlops")


def nb_log_metrics(folder: Path, n: int) -> float:
    """Return seconds for ``n`` log_metric calls plus the end_run flush."""
    import nbmlops

    run = nbmlops.start_run("bench", settings=_nb_settings(folder))
    t = time.perf_counter()
    for i in range(n):
        nbmlops.log_metric("loss", 1.0 / (i + 1))
    run.end()
    elapsed = time.perf_counter() - t
    assert len(run.metric_history("loss")) == n
    return elapsed


def nb_create_runs(folder: Path, runs: int) -> float:
    """Return seconds to create ``runs`` runs with 5 params and 5 metrics each."""
    import nbmlops

    settings = _nb_settings(folder)
    t = time.perf_counter()
    for i in range(runs):
        with nbmlops.start_run(f"r{i}", experiment="bench", settings=settings,
                               params={f"p{k}": ("x" if (i + k) % 2 == 0 else "y")
                                       for k in range(PARAMS)}):
            nbmlops.log_metrics({f"m{k}": ((i * 7919 + k) % 1000) / 1000
                                 for k in range(METRICS)})
    return time.perf_counter() - t


def nb_query(folder: Path) -> tuple[float, int]:
    """Return (median seconds, rows) of the filtered runs() query."""
    import nbmlops

    settings = _nb_settings(folder)
    return _median(lambda: len(nbmlops.runs(experiment="bench", filter=FILTER,
                                            settings=settings)))


# mlflow ----------------------------------------------------------------------------
def _ml_setup(uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow


def ml_log_metrics(uri: str, n: int) -> float:
    """Return seconds for ``n`` mlflow.log_metric calls in one run."""
    mlflow = _ml_setup(uri)
    mlflow.set_experiment("bench-metrics")
    with mlflow.start_run():
        t = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        elapsed = time.perf_counter() - t
    return elapsed


def ml_create_runs(uri: str, runs: int) -> float:
    """Return seconds to create ``runs`` runs with 5 params and 5 metrics each (batched)."""
    mlflow = _ml_setup(uri)
    mlflow.set_experiment("bench")
    t = time.perf_counter()
    for i in range(runs):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_params({f"p{k}": ("x" if (i + k) % 2 == 0 else "y")
                               for k in range(PARAMS)})
            mlflow.log_metrics({f"m{k}": ((i * 7919 + k) % 1000) / 1000
                                for k in range(METRICS)})
    return time.perf_counter() - t


def ml_query(uri: str) -> tuple[float, int]:
    """Return (median seconds, rows) of mlflow.search_runs with the same filter."""
    mlflow = _ml_setup(uri)
    exp = mlflow.get_experiment_by_name("bench")
    return _median(lambda: len(mlflow.search_runs(experiment_ids=[exp.experiment_id],
                                                  filter_string=FILTER)))


# helpers ---------------------------------------------------------------------------
def _median(fn: Callable[[], int], repeat: int = 11) -> tuple[float, int]:
    # One untimed warm-up call on each side (statement caches, first page reads),
    # then the median of ``repeat`` timed calls.
    fn()
    times, rows = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), rows


def import_time(statement: str, repeat: int, setup: str = "") -> float:
    """Return the median seconds of ``statement`` in a fresh interpreter."""
    code = (f"{setup}\nimport time\nt = time.perf_counter()\n{statement}\n"
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _try(label: str, fn: Callable[[], Any], notes: list[str]) -> Any:
    try:
        return fn()
    except Exception as exc:  # a benchmark reports what failed instead of stopping
        notes.append(f"{label}: not measured ({type(exc).__name__}: {str(exc)[:160]})")
        return None


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1000:10.1f} ms"


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None or ours <= 0:
        return "n/a"
    return f"{theirs / ours:8.1f}x"


def main() -> None:
    """Run the benchmark and print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = parser.parse_args()
    n_metrics, n_runs, n_import = (200, 100, 3) if args.quick else (2000, 1000, 5)

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # MLflow 3.x refuses its file store unless opted in; opt in so it can be compared.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    notes_pre = ["mlflow file store needs MLFLOW_ALLOW_FILE_STORE=true in this MLflow "
                 "version (it is in maintenance mode); set here for the comparison"]
    os.environ["NBMLOPS_FLUSH_INTERVAL"] = "1.0"

    notes: list[str] = notes_pre
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="nbmlops-bench-") as tmp:
        root = Path(tmp)
        for sub in ("nb", "ml_sqlite", "ml_file"):
            (root / sub).mkdir()
        sqlite_uri = f"sqlite:///{root / 'ml_sqlite' / 'mlflow.db'}"
        file_uri = (root / "ml_file" / "mlruns").as_uri()

        print(f"(a) {n_metrics} log_metric calls ...", flush=True)
        a_nb = nb_log_metrics(root / "nb", n_metrics)
        a_sql = _try("mlflow sqlite log_metric", lambda: ml_log_metrics(sqlite_uri, n_metrics),
                     notes)
        a_file = _try("mlflow file store log_metric",
                      lambda: ml_log_metrics(file_uri, n_metrics), notes)
        rows.append((f"(a) {n_metrics} log_metric calls", a_nb, a_sql, a_file))

        print(f"(b) {n_runs} runs x ({PARAMS} params + {METRICS} metrics) ...", flush=True)
        b_nb = nb_create_runs(root / "nb", n_runs)
        b_sql = _try("mlflow sqlite create runs", lambda: ml_create_runs(sqlite_uri, n_runs),
                     notes)
        b_file = _try("mlflow file store create runs",
                      lambda: ml_create_runs(file_uri, n_runs), notes)
        rows.append((f"(b) create {n_runs} runs", b_nb, b_sql, b_file))

        q_nb, rows_nb = nb_query(root / "nb")
        q_sql = _try("mlflow sqlite query", lambda: ml_query(sqlite_uri), notes)
        q_file = _try("mlflow file query", lambda: ml_query(file_uri), notes)
        for label, res in (("sqlite", q_sql), ("file store", q_file)):
            if res is not None and res[1] != rows_nb:
                notes.append(f"row counts differ: nbmlops {rows_nb}, mlflow {label} {res[1]}")
        rows.append((f"(b) filtered query ({rows_nb} rows)", q_nb,
                     q_sql[0] if q_sql else None, q_file[0] if q_file else None))

    print(f"(c) import time, median of {n_import} fresh interpreters ...", flush=True)
    c_nb = import_time("import nbmlops", n_import)
    load_ext = ("import nbmlops\nnbmlops.load_ipython_extension(ip)")
    c_ext = _try("%load_ext nbmlops", lambda: import_time(
        load_ext, n_import,
        setup="from IPython.core.interactiveshell import InteractiveShell\n"
              "ip = InteractiveShell.instance()"), notes)
    c_ml = import_time("import mlflow", n_import)
    rows.append(("(c) import nbmlops vs import mlflow", c_nb, c_ml, None))
    rows.append(("(c) %load_ext nbmlops vs import mlflow", c_ext, c_ml, None))

    print()
    head = (f"{'benchmark':42} {'nbmlops':>13} {'mlflow sqlite':>13} {'mlflow file':>13}"
            f" {'x sqlite':>9} {'x file':>9}")
    print(head)
    print("-" * len(head))
    for label, ours, sql, file in rows:
        print(f"{label:42} {_fmt(ours):>13} {_fmt(sql):>13} {_fmt(file):>13}"
              f" {_ratio(sql, ours):>9} {_ratio(file, ours):>9}")
    print()
    print("ratios are MLflow time / nbmlops time (higher = nbmlops faster);")
    print("targets: (a) >= 50x vs sqlite, (b) query >= 10x, (c) several times faster")
    try:
        import mlflow

        print(f"mlflow {mlflow.__version__}, python {sys.version.split()[0]}")
    except ImportError:
        pass
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
