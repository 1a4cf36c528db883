"""StoreContract: the behaviour every metadata store backend must show.

Subclasses supply a ``store`` fixture (a fresh, empty :class:`SqlStore`) and a
``reopen`` fixture (a callable returning a new store on the same database), as in
fsspec's ``fsspec/tests/abstract`` suites.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from nbmlops.entities import ArtifactInfo, DatasetInfo, RunStatus
from nbmlops.errors import (
    ArtifactNotFound,
    ConflictError,
    FilterError,
    RunNotFound,
    StoreError,
)
from nbmlops.store import migrations
from nbmlops.store import schema as s
from nbmlops.store.sql import SqlStore
from nbmlops.tracking.values import encode_param

Reopen = Callable[[], SqlStore]


def _params(**values: Any) -> dict[str, tuple[str, float | None, str]]:
    return {k: encode_param(k, v) for k, v in values.items()}


def _metric(store: SqlStore, run_id: str, key: str, value: float, step: int = 0,
            ts: float | None = None) -> None:
    store.log_metric_rows([(run_id, key, value, step, ts if ts is not None else time.time())])


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _ids(records: list[Any]) -> list[str]:
    return [r.id for r in records]


class StoreContract:
    """Abstract tests; a subclass provides the ``store`` and ``reopen`` fixtures."""

    # runs ------------------------------------------------------------------------
    def test_create_and_get_run(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r1", source="x = 1", notebook_path="/nb.ipynb",
                               git_commit="abc", git_dirty=True, execution_count=3)
        got = store.get_run(rec.id)
        assert (got.id, got.experiment, got.name, got.status) == (rec.id, "exp", "r1",
                                                                  RunStatus.RUNNING)
        assert len(got.id) == 32 and int(got.id, 16) >= 0
        assert got.source == "x = 1" and got.notebook_path == "/nb.ipynb"
        assert got.git_commit == "abc" and got.git_dirty is True and got.execution_count == 3
        assert got.start_time.tzinfo is not None and got.end_time is None
        assert store.list_experiments() == ["exp"]

    def test_end_run_sets_status_time_and_error(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r1")
        store.end_run(rec.id, RunStatus.FAILED, "Traceback ...\nValueError: boom")
        got = store.get_run(rec.id)
        assert got.status is RunStatus.FAILED
        assert got.end_time is not None and got.end_time >= got.start_time
        assert got.error is not None and got.error.endswith("ValueError: boom")

    def test_missing_run_raises_run_not_found(self, store: SqlStore) -> None:
        with pytest.raises(RunNotFound, match="0" * 32):
            store.get_run("0" * 32)
        with pytest.raises(RunNotFound):
            store.update_run("0" * 32, status="FINISHED")
        with pytest.raises(RunNotFound):
            store.create_run("exp", "child", parent_run_id="f" * 32)
        assert store.search_runs() == []  # the failed create left nothing behind

    def test_parent_child(self, store: SqlStore) -> None:
        parent = store.create_run("exp", "parent")
        child = store.create_run("exp", "child", parent_run_id=parent.id)
        assert store.get_run(child.id).parent_run_id == parent.id
        found = store.search_runs(filter=f"parent_run_id = '{parent.id}'")
        assert _ids(found) == [child.id]

    def test_concurrent_create_run_in_new_experiment(self, store: SqlStore) -> None:
        errors: list[BaseException] = []

        def create(i: int) -> None:
            try:
                store.create_run(f"exp{i % 2}", f"r{i}")
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(store.list_experiments()) == ["exp0", "exp1"]
        assert len(store.search_runs()) == 8

    # params ----------------------------------------------------------------------
    def test_params_roundtrip_and_immutability(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        store.log_params(rec.id, _params(alpha=0.5, model="rf", layers=[1, 2]))
        store.log_params(rec.id, _params(alpha=0.5))  # same value again is fine
        with pytest.raises(ConflictError, match="alpha.*immutable"):
            store.log_params(rec.id, _params(alpha=0.7, beta=1))
        got = store.get_params([rec.id])[rec.id]
        assert got == {"alpha": ("0.5", "json"), "model": ("rf", "str"),
                       "layers": ("[1, 2]", "json")}  # beta was not stored either

    def test_params_on_missing_run(self, store: SqlStore) -> None:
        with pytest.raises(RunNotFound):
            store.log_params("0" * 32, _params(a=1))

    # metrics ---------------------------------------------------------------------
    def test_metric_history_and_latest(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        t0 = time.time()
        store.log_metric_rows([(rec.id, "loss", 1.0 - i / 10, i, t0 + i) for i in range(5)])
        store.log_metric_rows([(rec.id, "loss", 9.0, 2, t0 - 100)])  # late write of an old step
        hist = store.get_metric_history(rec.id, "loss")
        assert [p.step for p in hist] == [0, 1, 2, 2, 3, 4]
        assert [p.value for p in hist][:3] == [1.0, 0.9, 9.0]  # same step: ordered by time
        assert hist[0].timestamp.tzinfo is not None
        assert store.get_latest_metrics([rec.id])[rec.id] == {"loss": pytest.approx(0.6)}

    def test_nan_and_inf_stored_faithfully(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        rows = [(rec.id, "a", math.nan, 0, 1.0), (rec.id, "b", math.inf, 0, 1.0),
                (rec.id, "c", -math.inf, 0, 1.0), (rec.id, "d", 1e308, 0, 1.0),
                (rec.id, "e", -0.0, 0, 1.0), (rec.id, "f", 5e-324, 0, 1.0)]
        store.log_metric_rows(rows)
        latest = store.get_latest_metrics([rec.id])[rec.id]
        assert math.isnan(latest["a"])
        assert latest["b"] == math.inf and latest["c"] == -math.inf
        assert latest["d"] == 1e308 and latest["f"] == 5e-324
        assert math.isnan(store.get_metric_history(rec.id, "a")[0].value)
        assert store.get_metric_history(rec.id, "b")[0].value == math.inf
        # NaN never matches a comparison; inf compares as the largest number
        assert _ids(store.search_runs(filter="metrics.a > 0 or metrics.a <= 0")) == []
        assert _ids(store.search_runs(filter="metrics.b > 1e300")) == [rec.id]

    def test_large_steps(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        step = 1_700_000_000_000  # epoch milliseconds, a common choice of step
        _metric(store, rec.id, "m", 1.0, step)
        assert store.get_metric_history(rec.id, "m")[0].step == step

    def test_metric_batch_is_atomic(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        with pytest.raises(StoreError):
            store.log_metric_rows([(rec.id, "m", 1.0, 0, 1.0), ("0" * 32, "m", 2.0, 0, 1.0)])
        assert store.get_metric_history(rec.id, "m") == []
        assert store.get_latest_metrics([rec.id])[rec.id] == {}

    # tags ------------------------------------------------------------------------
    def test_tags_insert_and_replace(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        store.set_tags(rec.id, {"team": "a", "stage": "dev"})
        store.set_tags(rec.id, {"stage": "prod"})
        assert store.get_tags([rec.id])[rec.id] == {"team": "a", "stage": "prod"}
        assert store.known_keys("tags") == {"team", "stage"}

    # artifacts, datasets, environments ---------------------------------------------
    def test_artifact_records(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "r")
        info = ArtifactInfo("plots/loss.png", "a" * 64, 123, "image/png")
        store.add_artifact(rec.id, info, None)
        store.add_artifact(rec.id, ArtifactInfo("model", "b" * 64, 5_000_000_000,
                                                "application/x-skops"), {"flavor": "sklearn"})
        names = [a.name for a in store.list_artifacts(rec.id)]
        assert names == ["model", "plots/loss.png"]
        got, meta = store.get_artifact(rec.id, "model")
        assert got.size == 5_000_000_000 and meta == {"flavor": "sklearn"}
        store.add_artifact(rec.id, ArtifactInfo("plots/loss.png", "c" * 64, 1, "image/png"), None)
        assert store.get_artifact(rec.id, "plots/loss.png")[0].sha256 == "c" * 64
        with pytest.raises(ArtifactNotFound, match="model, plots/loss.png"):
            store.get_artifact(rec.id, "nope")

    def test_datasets_stored_once_and_linked(self, store: SqlStore) -> None:
        a, b = store.create_run("exp", "a"), store.create_run("exp", "b")
        ds = DatasetInfo("f" * 64, "train", "dataframe", (10, 2), ["x", "y"],
                         ["float64", "int64"], {"rows": 10, "columns": {"x": {"mean": 1.5}}})
        store.add_dataset(a.id, ds)
        store.add_dataset(b.id, ds)
        store.add_dataset(a.id, ds)  # relinking is idempotent
        for run in (a, b):
            (got,) = store.list_datasets(run.id)
            assert got == ds
        with store._read() as conn:
            assert conn.execute(select(s.datasets.c.fingerprint)).all() == [("f" * 64,)]

    def test_environments_deduplicated(self, store: SqlStore) -> None:
        env = {"python_version": "3.11.0", "platform": "linux", "packages": {"a": "1"},
               "imported": {"a": "1"}, "upgraded": {}, "variables": {"X": "1"}}
        store.put_environment("e" * 64, env)
        store.put_environment("e" * 64, env)
        assert store.get_environment("e" * 64) == {"hash": "e" * 64, **env}
        assert store.get_environment("0" * 64) == {}
        with store._read() as conn:
            assert len(conn.execute(select(s.environments.c.hash)).all()) == 1

    # search ----------------------------------------------------------------------
    @pytest.fixture
    def populated(self, store: SqlStore) -> dict[str, str]:
        ids = {}
        for i, (model, acc) in enumerate([("rf", 0.91), ("rf", 0.85), ("lr", 0.95),
                                          ("lr", 0.70)]):
            rec = store.create_run("exp" if i < 3 else "other", f"run{i}")
            store.update_run(rec.id, start_time=1_700_000_000.0 + i)  # the default order
            store.log_params(rec.id, _params(model=model, depth=i * 2, alpha=str(i / 10)))
            _metric(store, rec.id, "acc", acc)
            store.set_tags(rec.id, {"team": "Ops" if i % 2 else "ml"})
            if i == 1:
                store.end_run(rec.id, RunStatus.FINISHED)
            ids[f"run{i}"] = rec.id
        return ids

    def test_search_default_order_newest_first(self, store: SqlStore,
                                               populated: dict[str, str]) -> None:
        names = [r.name for r in store.search_runs()]
        assert names == ["run3", "run2", "run1", "run0"]
        assert [r.name for r in store.search_runs(experiment="other")] == ["run3"]
        assert store.search_runs(experiment="nope") == []

    @pytest.mark.parametrize(("expr", "expected"), [
        ("metrics.acc > 0.9", {"run0", "run2"}),
        ("metrics.acc >= 0.85 and params.model = 'rf'", {"run0", "run1"}),
        ("params.model = 'lr' or metrics.acc < 0.86", {"run1", "run2", "run3"}),
        ("(params.model = 'lr' or params.model = 'rf') and metrics.acc <= 0.85",
         {"run1", "run3"}),
        ("params.depth >= 4", {"run2", "run3"}),  # numeric view of a JSON param
        ("params.alpha > 0.15", {"run2", "run3"}),  # numeric view of a numeric string
        ("params.model != 'rf'", {"run2", "run3"}),
        ("tags.team = 'Ops'", {"run1", "run3"}),
        ("tags.team like 'O%'", {"run1", "run3"}),
        ("tags.team like 'o%'", set()),  # like is case-sensitive on every backend
        ("tags.team ilike 'o%'", {"run1", "run3"}),
        ("status = 'finished'", {"run1"}),
        ("attributes.status = 'RUNNING' AND name LIKE 'run_'", {"run0", "run2", "run3"}),
        ("duration >= 0", {"run1"}),
        ("start_time > '2000-01-01'", {"run0", "run1", "run2", "run3"}),
        ("metrics.`acc` == 0.95", {"run2"}),
    ])
    def test_search_filter(self, store: SqlStore, populated: dict[str, str], expr: str,
                           expected: set[str]) -> None:
        assert {r.name for r in store.search_runs(filter=expr)} == expected

    def test_search_order_by_and_max_results(self, store: SqlStore,
                                             populated: dict[str, str]) -> None:
        best = store.search_runs(order_by=["metrics.acc DESC"], max_results=2)
        assert [r.name for r in best] == ["run2", "run0"]
        worst = store.search_runs(experiment="exp", order_by=["metrics.acc"])
        assert [r.name for r in worst] == ["run1", "run0", "run2"]
        by_model = store.search_runs(order_by=["params.model ASC", "metrics.acc DESC"])
        assert [r.name for r in by_model] == ["run2", "run3", "run0", "run1"]
        assert store.search_runs(max_results=0) == []
        lone = store.create_run("exp", "no-metric")
        assert store.search_runs(order_by=["metrics.acc DESC"])[-1].id == lone.id  # nulls last

    @pytest.mark.parametrize(("expr", "match", "position"), [
        ("metrics.acc > ", "ends early", 14),
        ("metrics.acc >> 1", "expected a number", 13),
        ("metrics.acc > 0.9 and", "ends early", 21),
        ("metrics.acc > 0.9 params.x = 1", "expected 'and' or 'or'", 18),
        ("(metrics.acc > 0.9", "ends early", 18),
        ("metrics.acc ~ 1", "unexpected character '~'", 11),
        ("params.model = rf", "quote text values", 15),
        ("colour = 'red'", "unknown column 'colour'", 0),
        ("metrics.acc > 0.9 and metrics.f1 > 0.1", "unknown metric 'f1'; known metrics: acc",
         22),
        ("params.nope = 'x'", "unknown param 'nope'", 0),
        ("metrics.acc = 'high'", "compares with numbers only", 0),
        ("start_time > 'yesterday'", "not an ISO date", 0),
        ("", "empty expression", 0),
    ])
    def test_filter_errors(self, store: SqlStore, populated: dict[str, str], expr: str,
                           match: str, position: int) -> None:
        if expr == "":
            from nbmlops.store.filters import parse_filter

            with pytest.raises(FilterError, match=match):
                parse_filter(expr)
            return
        with pytest.raises(FilterError, match=match) as info:
            store.search_runs(filter=expr)
        assert info.value.position == position
        assert info.value.expression == expr

    def test_filter_sizes_are_bounded(self, store: SqlStore, populated: dict[str, str]) -> None:
        """Depth, comparisons, length and order_by items are refused past their limits."""
        from nbmlops.store import filters as f

        def nested(depth: int) -> str:
            return "(" * depth + "metrics.acc > 0.5" + ")" * depth

        at_limits = [nested(f.MAX_DEPTH),
                     " or ".join(["metrics.acc > 2"] * (f.MAX_COMPARISONS - 1)
                                 + ["metrics.acc > 0.5"])]
        expected = _ids(store.search_runs(filter="metrics.acc > 0.5"))
        for expr in at_limits:
            assert _ids(store.search_runs(filter=expr)) == expected
        over = [(nested(2000), "nested more than 50 deep"),
                (nested(f.MAX_DEPTH + 1), "nested more than 50 deep"),
                (" or ".join(["metrics.acc > 0.5"] * (f.MAX_COMPARISONS + 1)),
                 "more than 200 comparisons"),
                ("metrics.acc > 0.5" + " " * f.MAX_FILTER_CHARS, "at most 10,000"),
                ("x" * 9000 + " = 'a'", "unknown column"),
                ("metrics.acc > 0.5 and params.model = '" + "m" * 9000 + "' +",
                 "unexpected character")]
        for expr, match in over:
            with pytest.raises(FilterError, match=match) as info:
                store.search_runs(filter=expr)
            assert "\n" not in str(info.value) and len(str(info.value)) < 600
        with pytest.raises(FilterError, match="at most 20"):
            store.search_runs(order_by=["start_time"] * (f.MAX_ORDER_BY + 1))
        for item in ["x" * 9000, "start_time " + "D" * 20_000]:
            with pytest.raises(FilterError) as info:
                store.search_runs(order_by=[item])
            assert len(str(info.value)) < 600
        assert len(store.search_runs()) == 4

    @pytest.mark.parametrize(("kwargs", "match"), [
        ({"filter": 123}, "a filter is a string"),
        ({"filter": b"metrics.acc > 1"}, "a filter is a string"),
        ({"order_by": 123}, "order_by is a string or a list of strings"),
        ({"order_by": ["start_time", 1]}, "order_by is a string or a list of strings"),
    ])
    def test_filter_and_order_by_of_the_wrong_type(self, store: SqlStore,
                                                   populated: dict[str, str],
                                                   kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(FilterError, match=match):
            store.search_runs(**kwargs)

    def test_integers_past_64_bits_refused(self, store: SqlStore,
                                           populated: dict[str, str]) -> None:
        from nbmlops.errors import ValidationError

        with pytest.raises(ValidationError, match="too large|out of range") as info:
            store.search_runs(max_results=10**20)
        assert "\n" not in str(info.value)
        assert len(store.search_runs()) == 4

    def test_order_by_errors(self, store: SqlStore, populated: dict[str, str]) -> None:
        with pytest.raises(FilterError, match="unknown metric 'f1'"):
            store.search_runs(order_by=["metrics.f1 DESC"])
        with pytest.raises(FilterError, match="look like"):
            store.search_runs(order_by=["metrics.acc DOWN"])
        with pytest.raises(FilterError, match="unknown column"):
            store.search_runs(order_by=["colour"])

    def test_filter_values_are_bound_not_injected(self, store: SqlStore,
                                                  populated: dict[str, str]) -> None:
        expr = "params.model = 'x'' OR 1=1 --'"
        with pytest.raises(FilterError):
            store.search_runs(filter=expr)
        assert store.search_runs(filter="params.model = 'rf\\' OR \\'1\\'=\\'1'") == []
        assert len(store.search_runs()) == 4  # nothing was dropped or changed

    # liveness --------------------------------------------------------------------
    def test_reap_dead_runs(self, store: SqlStore) -> None:
        dead = store.create_run("exp", "dead")
        alive = store.create_run("exp", "alive")
        stale = store.create_run("exp", "stale-remote")
        store.update_run(dead.id, pid=_dead_pid())
        store.update_run(stale.id, host="elsewhere", heartbeat_at=time.time() - 3600)
        store.update_run(alive.id, host="elsewhere", heartbeat_at=time.time())
        _metric(store, dead.id, "m", 1.0)
        assert sorted(store.reap_dead_runs()) == sorted([dead.id, stale.id])
        got = store.get_run(dead.id)
        assert got.status is RunStatus.KILLED and "died" in (got.error or "")
        assert got.end_time is not None
        assert store.get_latest_metrics([dead.id])[dead.id] == {"m": 1.0}  # kept
        assert store.get_run(stale.id).status is RunStatus.KILLED
        assert store.get_run(alive.id).status is RunStatus.RUNNING
        assert store.reap_dead_runs() == []

    def test_search_reaps_dead_runs(self, store: SqlStore) -> None:
        rec = store.create_run("exp", "dead")
        store.update_run(rec.id, pid=_dead_pid())
        (found,) = store.search_runs()
        assert found.status is RunStatus.KILLED

    # schema ----------------------------------------------------------------------
    def test_schema_version_recorded(self, store: SqlStore) -> None:
        with store._read() as conn:
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION

    def test_reopen_keeps_data(self, store: SqlStore, reopen: Reopen) -> None:
        rec = store.create_run("exp", "r")
        _metric(store, rec.id, "m", 2.0)
        again = reopen()
        try:
            assert again.get_latest_metrics([rec.id])[rec.id] == {"m": 2.0}
        finally:
            again.close()

    def test_reopen_of_a_current_store_only_reads(self, store: SqlStore,
                                                  reopen: Reopen) -> None:
        """Opening a store that needs no migration takes no write lock (read-only disks)."""
        from sqlalchemy import Engine, event

        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement.upper())

        event.listen(Engine, "before_cursor_execute", record)
        try:
            again = reopen()
        finally:
            event.remove(Engine, "before_cursor_execute", record)
        again.close()
        writes = [st for st in statements
                  if st.startswith(("BEGIN IMMEDIATE", "CREATE", "INSERT", "UPDATE"))
                  or "ADVISORY" in st]
        assert statements and writes == []

    def test_reopen_adds_tables_a_newer_build_knows(self, store: SqlStore,
                                                    reopen: Reopen) -> None:
        """A store written before a table existed gets it on open, keeping its data."""
        rec = store.create_run("exp", "r")
        with store._write() as conn:
            s.prediction_feedback.drop(conn)
        again = reopen()
        try:
            with again._read() as conn:
                assert inspect(conn).has_table(s.prediction_feedback.name)
                assert migrations.stored_version(conn) == s.SCHEMA_VERSION
            assert again.get_run(rec.id).name == "r"
        finally:
            again.close()

    def test_newer_schema_version_refused(self, store: SqlStore, reopen: Reopen) -> None:
        with store._write() as conn:
            conn.execute(update(s.meta).where(s.meta.c.key == "schema_version")
                         .values(value=str(s.SCHEMA_VERSION + 1)))
        newer, ours = s.SCHEMA_VERSION + 1, s.SCHEMA_VERSION
        with pytest.raises(StoreError, match=f"schema version {newer}, written by a newer "
                           f"nbmlops; this nbmlops understands up to {ours}: upgrade nbmlops"):
            reopen()
        with store._read() as conn:  # refused without touching it
            assert migrations.stored_version(conn) == s.SCHEMA_VERSION + 1

    def test_migration_runs_once_and_keeps_data(self, store: SqlStore, reopen: Reopen,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        rec = store.create_run("exp", "r")
        store.log_params(rec.id, _params(a=1))
        calls: list[int] = []

        def upgrade(conn: Any) -> None:
            calls.append(1)
            conn.execute(text("CREATE TABLE migration_probe (x INTEGER)"))
            conn.execute(text("INSERT INTO migration_probe (x) VALUES (42)"))

        v = s.SCHEMA_VERSION
        monkeypatch.setattr(s, "SCHEMA_VERSION", v + 1)
        monkeypatch.setitem(migrations.MIGRATIONS, v, upgrade)
        first = reopen()
        second = reopen()
        try:
            assert calls == [1]
            with first._read() as conn:
                assert migrations.stored_version(conn) == v + 1
                assert conn.execute(text("SELECT x FROM migration_probe")).scalar() == 42
            assert second.get_params([rec.id])[rec.id] == {"a": ("1", "json")}
        finally:
            first.close()
            second.close()

    def test_failed_migration_changes_nothing(self, store: SqlStore, reopen: Reopen,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(conn: Any) -> None:
            conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
            raise RuntimeError("migration bug")

        v = s.SCHEMA_VERSION
        monkeypatch.setattr(s, "SCHEMA_VERSION", v + 1)
        monkeypatch.setitem(migrations.MIGRATIONS, v, broken)
        with pytest.raises(RuntimeError, match="migration bug"):
            reopen()
        with store._read() as conn:
            assert migrations.stored_version(conn) == v
            from sqlalchemy import inspect

            assert not inspect(conn).has_table("half_done")
