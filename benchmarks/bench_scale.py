"""Store-scale benchmark: nbmlops side by side with MLflow on the same database engine.

Run ``python benchmarks/bench_scale.py [--sizes 1000,10000,100000] [--mlflow-max 100000]
[--postgres URL]``. For each engine (SQLite files in one temp folder; PostgreSQL when a
URL is given or NBMLOPS_TEST_PG_URL is set, each tool in its own fresh schema of the same
server) it prints:

(a) run creation, 5 params + 5 metrics per run: nbmlops ``start_run`` + ``log_metrics``
    (the default path, environment capture on) vs MLflow's fluent ``start_run`` +
    ``log_params`` + ``log_metrics`` (its default path), and nbmlops ``log_runs`` (the
    bulk path, 5,000 runs, amortised) vs MLflow ``create_run`` + ``log_batch`` +
    ``set_terminated`` (its fastest documented client path);
(b) filtered search ``metrics.m0 > 0.9 and params.p0 = 'a'`` (~1% match) at each size,
    the same rows on both sides: one page of 50 (``runs(max_results=50)`` vs
    ``mlflow.search_runs(max_results=50)``), the first page with its total count
    (``runs_page``, what widgets and the sidebar read; MLflow has no count, so its page of
    50), and every match (``runs(filter=…)`` vs ``mlflow.search_runs(filter_string=…)``,
    whose default max_results=100,000 returns every match too); both sides return a
    pandas DataFrame and the script checks the row counts agree; median of 5 (3 for
    MLflow above 10k runs) after one warm-up call;
(c) the metric history of one run with 100,000 points (``Run.metric_history`` DataFrame
    vs ``MlflowClient.get_metric_history`` list).

Ratios are MLflow time / nbmlops time (bigger is better for nbmlops). nbmlops' search
stores are filled with ``log_runs``. MLflow's are filled with bulk SQL into MLflow's own
tables (runs, params, metrics, latest_metrics, tags): rows copied from a template run that
MLflow's client wrote, so the tables hold exactly what ``log_batch`` writes. Through the
client a run costs ~10-50 ms, hours at 100k. ``--mlflow-max`` caps MLflow's sizes.
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

        with nbmlops.start_run("warm-up", experiment="create", settings=self.settings):
            pass  # once per process: imports and the environment capture
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

    def search_page(self) -> tuple[float, int]:
        import nbmlops

        def call() -> Any:
            return nbmlops.runs(experiment="scale", filter=FILTER, max_results=50,
                                settings=self.settings)
        return _median(call), len(call())

    def search_counted(self) -> tuple[float, int]:
        import nbmlops

        def call() -> Any:
            return nbmlops.runs_page("scale", FILTER, page_size=50, settings=self.settings)
        return _median(call), call().total

    def search_all(self) -> tuple[float, int]:
        import nbmlops

        def call() -> Any:
            return nbmlops.runs(experiment="scale", filter=FILTER, settings=self.settings)
        return _median(call), len(call())

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
    def __init__(self, uri: str, folder: Path) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("alembic").setLevel(logging.ERROR)
        mlflow.set_tracking_uri(uri)
        self.uri, self.folder = uri, folder
        self.client = MlflowClient(uri)
        self.mlflow = mlflow
        self.exp: dict[str, str] = {}

    def _exp(self, name: str) -> str:
        if name not in self.exp:
            where = (self.folder / "mlartifacts" / name).as_uri()
            self.exp[name] = self.client.create_experiment(name, artifact_location=where)
        return self.exp[name]

    def _one(self, exp: str, params: dict[str, str], metrics: dict[str, float]) -> str:
        from mlflow.entities import Metric, Param

        run = self.client.create_run(exp)
        now = int(time.time() * 1000)
        self.client.log_batch(run.info.run_id,
                              metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                              params=[Param(k, v) for k, v in params.items()])
        self.client.set_terminated(run.info.run_id)
        return str(run.info.run_id)

    def create_default(self, n: int) -> float:
        mlflow = self.mlflow
        mlflow.set_experiment(experiment_id=self._exp("create-default"))
        with mlflow.start_run(run_name="warm-up"):
            pass
        t = time.perf_counter()
        for i in range(n):
            with mlflow.start_run(run_name=f"c{i}"):
                mlflow.log_params({f"p{k}": LETTERS[k] for k in range(5)})
                mlflow.log_metrics({f"m{k}": k / 10 for k in range(5)})
        return (time.perf_counter() - t) / n

    def create(self, n: int) -> float:
        exp = self._exp("create")
        t = time.perf_counter()
        for _ in range(n):
            self._one(exp, {f"p{k}": LETTERS[k] for k in range(5)},
                      {f"m{k}": k / 10 for k in range(5)})
        return (time.perf_counter() - t) / n

    def fill(self, frame: Any) -> None:
        """Bulk-insert the frame's runs into MLflow's tables, shaped like a client run."""
        from sqlalchemy import MetaData, create_engine

        exp = self._exp("scale")
        template = self._one(self._exp("template"), {"p0": "a"}, {"m0": 0.5})
        engine = create_engine(self.uri)
        meta = MetaData()
        meta.reflect(engine, only=["runs", "params", "metrics", "latest_metrics", "tags"])
        t = meta.tables
        with engine.begin() as conn:
            base = dict(conn.execute(t["runs"].select().where(
                t["runs"].c.run_uuid == template)).mappings().one())
            now = int(time.time() * 1000)
            rows = frame.to_dict("records")
            for lo in range(0, len(rows), 5000):
                runs, params, metrics, tags = [], [], [], []
                for i, row in enumerate(rows[lo:lo + 5000], lo):
                    rid = uuid.uuid4().hex
                    runs.append({**base, "run_uuid": rid, "name": row["name"],
                                 "experiment_id": int(exp), "start_time": now + i,
                                 "end_time": now + i + 1,
                                 "artifact_uri": f"{base['artifact_uri']}/{rid}"})
                    tags.append({"key": "mlflow.runName", "value": row["name"],
                                 "run_uuid": rid})
                    for col, value in row.items():
                        if col.startswith("params."):
                            params.append({"key": col[7:], "value": value, "run_uuid": rid})
                        elif col.startswith("metrics."):
                            metrics.append({"key": col[8:], "value": value, "timestamp": now,
                                            "step": 0, "is_nan": False, "run_uuid": rid})
                conn.execute(t["runs"].insert(), runs)
                conn.execute(t["tags"].insert(), tags)
                conn.execute(t["params"].insert(), params)
                conn.execute(t["metrics"].insert(), metrics)
                conn.execute(t["latest_metrics"].insert(), metrics)
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE runs, params, metrics, latest_metrics, tags")
        engine.dispose()

    def _search(self, max_results: int, repeat: int) -> tuple[float, int]:
        exp = self._exp("scale")

        def call() -> Any:
            return self.mlflow.search_runs([exp], FILTER, max_results=max_results)
        return _median(call, repeat), len(call())

    def search_page(self, repeat: int = 5) -> tuple[float, int]:
        return self._search(50, repeat)

    def search_all(self, repeat: int = 5) -> tuple[float, int]:
        return self._search(100_000, repeat)  # MLflow's default max_results

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


def _ms(seconds: float | None, digits: int = 1) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.{digits}f} ms"


def _row(label: str, what: str, nb: float, ml: float | None,
         digits: int = 1) -> tuple[str, str, str, str, str]:
    return label, what, _ms(nb, digits), _ms(ml, digits), _ratio(ml, nb)


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def run_engine(label: str, nb: Nb, ml: Ml, sizes: list[int], mlflow_max: int,
               create_n: int, points: int) -> list[tuple[str, str, str, str, str]]:
    rows = []
    nb_create, ml_create_default = nb.create_default(create_n), ml.create_default(create_n)
    nb_bulk, ml_create = nb.create_bulk(_frame(5000, 1)), ml.create(create_n)
    rows.append(_row(label, "create a run (5 params + 5 metrics), default path",
                     nb_create, ml_create_default, 2))
    rows.append(_row(label, "create a run, bulk path (log_runs vs log_batch), amortised",
                     nb_bulk, ml_create, 3))
    print(f"# {label}: creation done ({_load()})", flush=True)
    filled_nb = filled_ml = 0
    for size in sizes:
        nb.create_bulk(_frame(size - filled_nb, 100 + size), "scale")
        filled_nb = size
        page, n_page = nb.search_page()
        counted, total = nb.search_counted()
        whole, n_all = nb.search_all()
        ml_page = ml_all = None
        if size <= mlflow_max:
            ml.fill(_frame(size - filled_ml, 100 + size))
            filled_ml = size
            repeat = 5 if size <= 10_000 else 3
            ml_page, m_page = ml.search_page(repeat)
            ml_all, m_all = ml.search_all(repeat)
            assert (m_page, m_all) == (n_page, n_all), ((m_page, m_all), (n_page, n_all))
        rows.append(_row(label, f"search at {size:,} runs: page of 50", page, ml_page))
        rows.append(_row(label, f"search at {size:,} runs: page of 50 + count of {total:,} "
                         "(MLflow: page, no count)", counted, ml_page))
        rows.append(_row(label, f"search at {size:,} runs: all {n_all:,} matches", whole,
                         ml_all))
        print(f"# {label}: {size:,} runs done ({_load()})", flush=True)
    nb_h, ml_h = nb.history(points), ml.history(points)
    rows.append(_row(label, f"metric history, {points:,} points", nb_h, ml_h))
    return rows


def _pg_schema(url: str, schema: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schemas(url: str, schemas: list[str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--mlflow-max", type=int, default=100_000)
    parser.add_argument("--create", type=int, default=200, help="runs timed for creation")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("NBMLOPS_TEST_PG_URL"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    warnings.filterwarnings("ignore")
    engines = args.engines.split(",")
    print(f"# {_load()} at the start; cores: {os.cpu_count()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "sqlite" in engines:
            nb = Nb(f"sqlite:///{folder / 'nb.db'}", folder)
            ml = Ml(f"sqlite:///{folder / 'mlflow.db'}", folder)
            rows += run_engine("sqlite", nb, ml, sizes, args.mlflow_max, args.create,
                               args.points)
        if args.postgres and "postgresql" in engines:
            from nbmlops.store import reset

            reset()
            tag = uuid.uuid4().hex[:8]
            nb = Nb(_pg_schema(args.postgres, f"nb_{tag}"), folder)
            ml = Ml(_pg_schema(args.postgres, f"ml_{tag}"), folder)
            try:
                rows += run_engine("postgresql", nb, ml, sizes, args.mlflow_max,
                                   args.create, args.points)
            finally:
                reset()
                _drop_schemas(args.postgres, [f"nb_{tag}", f"ml_{tag}"])
    print(f"# {_load()} at the end", flush=True)
    head = ("engine", "what", "nbmlops", "MLflow", "MLflow/nbmlops")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
