"""Store-scale benchmark: nbmlops side by side with MLflow on the same database engine.

Run ``python benchmarks/bench_scale.py [--sizes 1000,10000,100000] [--mlflow-max 10000]
[--postgres URL]``. For each engine (SQLite files in a temp folder; PostgreSQL when a
URL is given, each tool in its own fresh database schema) it prints:

(a) run creation, 5 params + 5 metrics per run: nbmlops ``start_run`` (the default path,
    environment capture on), nbmlops ``log_runs`` (the bulk path, amortised), MLflow
    ``create_run`` + ``log_batch`` + ``set_terminated`` (its fastest client path);
(b) filtered search ``metrics.m0 > 0.9 and params.p0 = 'a'`` (~1% match) at each size:
    nbmlops one page of 50 (``runs(max_results=50)``), nbmlops the first page with its
    count (``runs_page``, what the widgets and the sidebar read), MLflow ``search_runs``
    with ``max_results=50``; median of 5 after one warm-up call;
(c) the metric history of one run with 100,000 points.

Ratios are MLflow time / nbmlops time (bigger is better for nbmlops). Stores are filled
through each tool's bulk-capable path; MLflow is filled only up to ``--mlflow-max`` runs
(its creation costs ~10-50 ms a run).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILTER = "metrics.m0 > 0.9 and params.p0 = 'a'"
LETTERS = list("abcdefghij")


def _median(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _frame(n: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {"name": [f"r{i}" for i in range(n)]}
    for k in range(5):
        data[f"params.p{k}"] = rng.choice(LETTERS, n)
    for k in range(5):
        data[f"metrics.m{k}"] = rng.random(n)
    return pd.DataFrame(data)


# nbmlops -----------------------------------------------------------------------------
class Nb:
    def __init__(self, store_url: str, folder: Path) -> None:
        from nbmlops.config import resolve_settings

        os.environ["NBMLOPS_HOME"] = str(folder / ".nbmlops")
        self.settings = resolve_settings(home=folder / ".nbmlops", store_url=store_url)

    def create_default(self, n: int) -> float:
        import nbmlops

        t = time.perf_counter()
        for i in range(n):
            with nbmlops.start_run(f"c{i}", experiment="create", settings=self.settings,
                                   params={f"p{k}": LETTERS[k] for k in range(5)}):
                nbmlops.log_metrics({f"m{k}": k / 10 for k in range(5)})
        return (time.perf_counter() - t) / n

    def create_bulk(self, frame: Any, experiment: str = "bulk") -> float:
        import nbmlops

        t = time.perf_counter()
        nbmlops.log_runs(frame, experiment, settings=self.settings)
        return (time.perf_counter() - t) / len(frame)

    def search_page(self) -> float:
        import nbmlops

        return _median(lambda: nbmlops.runs(experiment="scale", filter=FILTER, max_results=50,
                                            settings=self.settings))

    def search_counted(self) -> float:
        import nbmlops

        return _median(lambda: nbmlops.runs_page("scale", FILTER, page_size=50,
                                                 settings=self.settings))

    def history(self, points: int) -> float:
        import nbmlops

        with nbmlops.start_run("hist", settings=self.settings, capture=False) as run:
            for i in range(points):
                nbmlops.log_metric("loss", 1 / (i + 1), step=i)
        got = nbmlops.get_run(run.id, settings=self.settings)
        assert len(got.metric_history("loss")) == points
        return _median(lambda: got.metric_history("loss"), repeat=3)


# MLflow ------------------------------------------------------------------------------
class Ml:
    def __init__(self, uri: str) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("alembic").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(uri)
        self.mlflow = mlflow
        self.exp = {}

    def _exp(self, name: str) -> str:
        if name not in self.exp:
            self.exp[name] = self.client.create_experiment(name)
        return self.exp[name]

    def _one(self, exp: str, params: dict[str, str], metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric, Param

        run = self.client.create_run(exp)
        now = int(time.time() * 1000)
        self.client.log_batch(run.info.run_id,
                              metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                              params=[Param(k, v) for k, v in params.items()])
        self.client.set_terminated(run.info.run_id)

    def create(self, n: int) -> float:
        exp = self._exp("create")
        t = time.perf_counter()
        for _ in range(n):
            self._one(exp, {f"p{k}": LETTERS[k] for k in range(5)},
                      {f"m{k}": k / 10 for k in range(5)})
        return (time.perf_counter() - t) / n

    def fill(self, frame: Any) -> None:
        exp = self._exp("scale")
        for row in frame.to_dict("records"):
            self._one(exp, {k[7:]: v for k, v in row.items() if k.startswith("params.")},
                      {k[8:]: v for k, v in row.items() if k.startswith("metrics.")})

    def search(self) -> float:
        exp = self._exp("scale")
        fs = "metrics.m0 > 0.9 and params.p0 = 'a'"
        return _median(lambda: self.client.search_runs([exp], fs, max_results=50))

    def history(self, points: int) -> float:
        from mlflow.entities import Metric

        run = self.client.create_run(self._exp("hist"))
        now = int(time.time() * 1000)
        for lo in range(0, points, 1000):
            self.client.log_batch(run.info.run_id, metrics=[
                Metric("loss", 1 / (i + 1), now, i) for i in range(lo, min(points, lo + 1000))])
        assert len(self.client.get_metric_history(run.info.run_id, "loss")) == points
        return _median(lambda: self.client.get_metric_history(run.info.run_id, "loss"),
                       repeat=3)


# one engine --------------------------------------------------------------------------
def _ratio(ml: float | None, nb: float) -> str:
    return "-" if ml is None else f"{ml / nb:.1f}x"


def run_engine(label: str, nb: Nb, ml: Ml, sizes: list[int], mlflow_max: int,
               create_n: int, points: int) -> list[tuple[str, str, str, str, str]]:
    rows = []
    nb_create, nb_bulk = nb.create_default(create_n), nb.create_bulk(_frame(5000, 1))
    ml_create = ml.create(min(create_n, 200))
    rows.append((label, "create a run (5 params + 5 metrics), default path",
                 f"{nb_create * 1000:.2f} ms", f"{ml_create * 1000:.2f} ms",
                 _ratio(ml_create, nb_create)))
    rows.append((label, "create a run, bulk path (log_runs, amortised)",
                 f"{nb_bulk * 1000:.3f} ms", f"{ml_create * 1000:.2f} ms",
                 _ratio(ml_create, nb_bulk)))
    filled_nb = filled_ml = 0
    for size in sizes:
        frame = _frame(size - filled_nb, 100 + size)
        nb.create_bulk(frame, "scale")
        filled_nb = size
        ml_t = None
        if size <= mlflow_max:
            ml.fill(_frame(size - filled_ml, 100 + size))
            filled_ml = size
            ml_t = ml.search()
        page, counted = nb.search_page(), nb.search_counted()
        rows.append((label, f"search at {size:,} runs: one page of 50",
                     f"{page * 1000:.1f} ms", "-" if ml_t is None else f"{ml_t * 1000:.1f} ms",
                     _ratio(ml_t, page)))
        rows.append((label, f"search at {size:,} runs: first page + count",
                     f"{counted * 1000:.1f} ms",
                     "-" if ml_t is None else f"{ml_t * 1000:.1f} ms", _ratio(ml_t, counted)))
    nb_h, ml_h = nb.history(points), ml.history(points)
    rows.append((label, f"metric history, {points:,} points", f"{nb_h * 1000:.1f} ms",
                 f"{ml_h * 1000:.1f} ms", _ratio(ml_h, nb_h)))
    return rows


def _pg_schema(url: str, schema: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--mlflow-max", type=int, default=10000)
    parser.add_argument("--create", type=int, default=300, help="runs timed for creation")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("NBMLOPS_TEST_PG_URL"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nb = Nb(f"sqlite:///{folder / 'nb.db'}", folder)
        ml = Ml(f"sqlite:///{folder / 'mlflow.db'}")
        rows += run_engine("sqlite", nb, ml, sizes, args.mlflow_max, args.create, args.points)
        if args.postgres:
            from nbmlops.store import reset

            reset()
            tag = uuid.uuid4().hex[:8]
            nb = Nb(_pg_schema(args.postgres, f"nb_{tag}"), folder)
            ml = Ml(_pg_schema(args.postgres, f"ml_{tag}"))
            rows += run_engine("postgresql", nb, ml, sizes, args.mlflow_max, args.create,
                               args.points)
    head = ("engine", "what", "nbmlops", "MLflow", "MLflow/nbmlops")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
