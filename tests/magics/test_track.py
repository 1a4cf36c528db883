"""``%%track`` in a real InteractiveShell: what a tracked cell records."""

from __future__ import annotations

import math
from typing import Any

import pytest
from IPython.core.error import UsageError

import nbmlops
from tests.magics.conftest import run, run_count

SETUP = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
df = load_iris(as_frame=True).frame
features = df.drop(columns="target")
target = df["target"]
C = 0.5
"""


@pytest.fixture
def iris(ip: Any) -> Any:
    """Return the shell with iris data and a param variable defined by an earlier cell."""
    run(ip, SETUP)
    return ip


def test_records_params_metrics_tags_source_and_count(iris: Any) -> None:
    body = ("model = LogisticRegression(C=C, max_iter=300).fit(features, target)\n"
            "acc = model.score(features, target)\n")
    run(iris, "%%track lr -e iris --params C double=C*2 --metrics acc half=acc/2 "
              "--tags team=ds\n" + body)
    r = nbmlops.last_run()
    assert (r.name, r.experiment, r.status.value) == ("lr", "iris", "FINISHED")
    assert r.params == {"C": 0.5, "double": 1.0}
    acc = iris.user_ns["acc"]
    assert r.metrics == {"acc": acc, "half": acc / 2}
    assert r.tags["team"] == "ds"
    assert r.source == body.rstrip("\n")
    assert r.info.execution_count == 2  # In[1] was the setup cell


def test_fitted_model_is_logged_with_input_example(iris: Any) -> None:
    run(iris, "%%track\nclf = DecisionTreeClassifier(max_depth=2).fit(features, target)\n"
              "unfitted = LogisticRegression()\n")
    r = nbmlops.last_run()
    assert [a.name for a in r.artifacts] == ["clf"]
    loaded = r.load_model("clf")
    assert (loaded.predict(iris.user_ns["features"]) ==
            iris.user_ns["clf"].predict(iris.user_ns["features"])).all()
    _, meta = r._store.get_artifact(r.id, "clf")
    assert meta["signature"]["columns"] == list(iris.user_ns["features"].columns)
    assert len(meta["input_example"]) == 5


def test_model_fitted_in_place_is_logged(iris: Any) -> None:
    run(iris, "tree = DecisionTreeClassifier(max_depth=1)")
    run(iris, "%%track\ntree.fit(df.drop(columns='target'), df['target'])\n")
    _, meta = nbmlops.last_run()._store.get_artifact(nbmlops.last_run().id, "tree")
    assert meta["signature"]["kind"] == "dataframe"
    # the example comes from `df` (read by the cell), restricted to the model's features
    assert list(meta["input_example"][0]) == list(iris.user_ns["features"].columns)


def test_datasets_read_are_fingerprinted(iris: Any) -> None:
    from nbmlops.tracking.datasets import fingerprint

    run(iris, "%%track\nn = len(features) + len(target)\nlocal = features.copy()\n")
    found = {d.name: d.fingerprint for d in nbmlops.last_run().datasets}
    assert found == {
        "features": fingerprint(iris.user_ns["features"]).fingerprint,
        "target": fingerprint(iris.user_ns["target"]).fingerprint,
    }


def test_no_models_no_data(iris: Any) -> None:
    run(iris, "%%track --no-models --no-data\nm = DecisionTreeClassifier().fit(features, target)")
    r = nbmlops.last_run()
    assert (r.artifacts, r.datasets) == ([], [])


def test_trailing_expression_is_the_cell_value(ip: Any) -> None:
    assert run(ip, "%%track\nx = 20\nx + 1\n") == 21
    assert run(ip, "%%track\nx + 2;\n") is None
    assert run(ip, "%%track\nx * 2") == 40


def test_log_calls_attach_and_nested_runs_are_children(ip: Any) -> None:
    run(ip, "%%track outer\nimport nbmlops\nfor i in range(4):\n"
            "    nbmlops.log_metric('loss', 1 / (i + 1))\n"
            "with nbmlops.start_run('inner') as child:\n    nbmlops.log_param('k', 1)\n")
    outer = next(r for r in nbmlops.runs().itertuples() if r.name == "outer")
    inner = nbmlops.get_run(ip.user_ns["child"].id)
    assert inner.info.parent_run_id == outer.run_id
    assert inner.params == {"k": 1}
    history = nbmlops.get_run(outer.run_id).metric_history("loss")
    assert history["step"].tolist() == [0, 1, 2, 3]
    assert nbmlops.active_run() is None


def test_child_runs_left_open_end_with_the_cell(ip: Any) -> None:
    run(ip, "%%track outer\nimport nbmlops\nchild = nbmlops.start_run('left-open')\n")
    assert nbmlops.get_run(ip.user_ns["child"].id).status.value == "FINISHED"
    assert nbmlops.active_run() is None


def test_exception_fails_the_run_and_propagates(ip: Any) -> None:
    cell = ("%%track boom --metrics early late\nimport nbmlops\n"
            "nbmlops.log_metric('seen', 1.0)\nearly = 0.25\nraise ValueError('bad data')\n"
            "late = 1.0\n")
    result = ip.run_cell(cell, store_history=True)
    assert isinstance(result.error_in_exec, ValueError)
    r = nbmlops.last_run()
    assert r.status.value == "FAILED"
    assert "ValueError: bad data" in r.record.error
    assert "raise ValueError('bad data')" in r.record.error
    assert "nbmlops/magics" not in r.record.error  # the magic's own frames are left out
    assert r.metrics == {"early": 0.25, "seen": 1.0}  # `late` never ran: not logged


def test_keyboard_interrupt_kills_the_run(ip: Any) -> None:
    result = ip.run_cell("%%track\nraise KeyboardInterrupt\n", store_history=True)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert nbmlops.last_run().status.value == "KILLED"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--params nope", "unknown variable 'nope' in --params"),
        ("--metrics acc missing", "unknown variable 'missing' in --metrics"),
        ("--params k=undefined_thing+1", "unknown variable 'undefined_thing'"),
        ("'bad name'", "invalid run name 'bad name'"),
        ("a/b", "invalid run name 'a/b'"),
        ("..", "invalid run name '..'"),
        ("x" * 251, "longer than 250 characters"),
        ("-e ../up", "invalid experiment name"),
        ("--params 'k=1 +'", "is not a name or KEY=EXPRESSION"),
        ("--params 'bad key=1'", "invalid param name"),
        ("--tags novalue", "must be written KEY=VALUE"),
        ("--metrics acc acc", "names a key twice"),
        ("--bogus", "unrecognized arguments"),
        ("--params 'unbalanced", "cannot split the arguments"),
    ],
)
def test_bad_arguments_fail_before_the_cell_and_store_nothing(
    ip: Any, line: str, message: str
) -> None:
    run(ip, "%%track first\nacc = 1.0\n")
    before = run_count(ip)
    with pytest.raises(UsageError, match=message.replace("+", r"\+").replace(".", r"\.")):
        ip.run_cell_magic("track", line, "ran = True\nacc = 0.5\n")
    assert "ran" not in ip.user_ns
    assert run_count(ip) == before


def test_quoted_expressions_with_spaces(ip: Any) -> None:
    run(ip, "n = 4")
    run(ip, """%%track "spaced" --params "twice=n * 2" --metrics 'ratio = n / 8'\npass\n""")
    r = nbmlops.last_run()
    assert (r.name, r.params, r.metrics) == ("spaced", {"twice": 8}, {"ratio": 0.5})


def test_syntax_error_in_the_cell_records_nothing(ip: Any) -> None:
    with pytest.raises(UsageError, match=r"syntax error at line 3: .* in 'y = \('"):
        ip.run_cell_magic("track", "", "x = 1\ny = (\n")
    assert run_count(ip) == 0


def test_params_assigned_by_the_cell_are_read_after_it(ip: Any) -> None:
    run(ip, "%%track --params depth --metrics score\ndepth = 7\nscore = depth / 10\n")
    r = nbmlops.last_run()
    assert (r.params, r.metrics) == ({"depth": 7}, {"score": 0.7})


def test_non_number_metric_fails_the_run_cleanly(ip: Any) -> None:
    with pytest.raises(UsageError, match=r"metric 'acc' must be a number, got str 'high'"):
        ip.run_cell_magic("track", "--metrics ok acc", "ok = 1.0\nacc = 'high'\n")
    r = nbmlops.last_run()
    assert r.status.value == "FAILED"
    assert "metric 'acc' must be a number" in r.record.error
    assert r.metrics == {}  # all or nothing: `ok` was not half-logged
    assert ip.user_ns["ok"] == 1.0  # the cell itself ran


def test_nan_and_inf_metrics_are_stored_faithfully(ip: Any) -> None:
    run(ip, "%%track --metrics loss big\nloss = float('nan')\nbig = float('inf')\n")
    m = nbmlops.last_run().metrics
    assert math.isnan(m["loss"]) and m["big"] == math.inf


def test_non_json_param_is_stored_as_repr_with_a_warning(ip: Any) -> None:
    from nbmlops.tracking.values import ReprParamWarning

    run(ip, "class Cfg:\n    def __repr__(self):\n        return 'Cfg(depth=3)'\ncfg = Cfg()")
    with pytest.warns(ReprParamWarning, match="param 'cfg'"):
        run(ip, "%%track --params cfg\npass\n")
    assert nbmlops.last_run().params == {"cfg": "Cfg(depth=3)"}


def test_a_model_that_cannot_be_saved_safely_warns_and_the_run_finishes(iris: Any) -> None:
    from nbmlops.magics.track import ModelNotLoggedWarning

    run(iris, "from sklearn.preprocessing import FunctionTransformer\n"
              "def double(x):\n    return x * 2\n")
    with pytest.warns(ModelNotLoggedWarning, match="model 'ft' was not logged"):
        run(iris, "%%track\nft = FunctionTransformer(double).fit(features)\n")
    r = nbmlops.last_run()
    assert (r.status.value, r.artifacts) == ("FINISHED", [])


def test_provenance_clean_then_stale(ip: Any) -> None:
    run(ip, "alpha = 2")
    run(ip, "X = [alpha * i for i in range(3)]")
    run(ip, "%%track --metrics total\ntotal = sum(X)\n")
    assert nbmlops.last_run().provenance.status == "clean"
    run(ip, "alpha = 3")
    run(ip, "%%track --metrics total\ntotal = sum(X)\n")
    prov = nbmlops.last_run().provenance
    assert prov.status == "stale"
    assert prov.reasons == ["X was computed in In[2] from alpha, which was reassigned in In[4]; "
                            "X was not recomputed since"]
    assert prov.variables["X"]["source"] == "X = [alpha * i for i in range(3)]"
    assert prov.variables["X"]["reads"] == {"alpha": 1}


def test_provenance_sees_edited_cells_and_exec_through_the_shell_hooks(ip: Any) -> None:
    ip.run_cell("a = 1\nb = 2", store_history=True, cell_id="cell-1").raise_error()
    ip.run_cell("a = 10", store_history=True, cell_id="cell-1").raise_error()  # b = 2 deleted
    run(ip, "exec('hidden = 3')")
    run(ip, "%%track --metrics s\ns = a + b + hidden\n")
    prov = nbmlops.last_run().provenance
    assert prov.reasons == [
        "b was produced by In[1], whose cell was since edited and re-run as In[2] without "
        "reassigning b",
        "hidden was assigned in In[3] by code nbmlops could not see (exec, %run, globals() or "
        "a cell magic)",
    ]
    assert prov.variables["a"]["cell_id"] == "cell-1" and not prov.variables["a"]["stale"]
