"""Provenance logic on strings of cell code: no shell, no store."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from nbmlops.tracking.provenance import ProvenanceTracker, analyze, cell_code, is_hidden


def code(src: str) -> Any:
    return analyze(ast.parse(src))


def test_assignment_inputs_follow_dataflow_inside_the_cell() -> None:
    c = code("X = df[cols]\ny = df['t']\nm = make(n)\nm.fit(X, y)\nacc = m.score(Xt, yt)\n")
    assert c.assigned["X"] == {"df", "cols"}
    assert c.assigned["m"] == {"make", "n", "df", "cols"}  # fit mixes X's and y's inputs in
    assert c.assigned["acc"] == {"make", "n", "df", "cols", "Xt", "yt"}
    assert c.reads == {"df", "cols", "make", "n", "Xt", "yt"}


def test_reads_are_names_used_before_the_cell_assigns_them() -> None:
    assert code("x = 1\nprint(x)").reads == {"print"}
    assert code("x = x + 1").reads == {"x"}
    assert code("x += 1").assigned == {"x": frozenset({"x"})}


@pytest.mark.parametrize(
    "src",
    ["X[0] = 1", "X.attr = 2", "X.a.b[3] = 4", "X.fit(data)", "X.append(data)",
     "X.sort_values('a', inplace=True)", "X.fit(data).score(data)", "del X['col']",
     "for i in range(2):\n    X.update(data)"],
)
def test_in_place_modifications(src: str) -> None:
    c = code(src)
    assert "X" in c.modified and "X" not in c.assigned


@pytest.mark.parametrize("src", ["X.head()", "X.describe()", "X.plot(kind='bar')",
                                 "X.to_csv('f.csv')", "print(X.fit)", "X.get_params()"])
def test_read_only_calls_are_not_modifications(src: str) -> None:
    assert code(src).modified == {}


def test_function_and_comprehension_scopes() -> None:
    c = code("def f(a, b=default):\n    t = a + g\n    import os\n    return t\n"
             "ys = [v * k for v in vs]\nclass C(Base):\n    z = 1\n")
    assert set(c.assigned) == {"f", "ys", "C"}
    assert c.reads == {"default", "g", "k", "vs", "Base"}


def test_imports_deletes_and_walrus() -> None:
    c = code("import numpy.linalg\nfrom a import b as c\ndel old\nif (n := 3):\n    pass\n")
    assert {"numpy", "c", "n"} <= set(c.assigned)
    assert c.deleted == {"old"}


def test_cell_code_strips_body_magics_and_hides_others() -> None:
    assert cell_code("%%track run --params a\nx = a\n") == ("x = a\n", True)
    assert cell_code("%%time\nx = 1") == ("x = 1", True)
    assert cell_code("%%bash\necho hi") == ("", False)
    assert cell_code("x = 1") == ("x = 1", True)


def test_ipython_bookkeeping_names_are_hidden() -> None:
    assert all(map(is_hidden, ["_", "__", "_i", "_ii", "_3", "_i3", "In", "Out", "__name__"]))
    assert not any(map(is_hidden, ["_private", "x", "Input", "_model"]))


class Kernel:
    """Run cells through a tracker the way the post_run_cell hook does."""

    def __init__(self, **ns: Any) -> None:
        self.ns: dict[str, Any] = dict(ns)
        self.tracker = ProvenanceTracker()
        self.tracker.baseline(self.ns)
        self.count = 0

    def cell(self, src: str, cell_id: str | None = None) -> None:
        self.count += 1
        ok = True
        try:
            exec(cell_code(src)[0] if src.startswith("%%") else src, self.ns)
        except Exception:
            ok = False
        self.tracker.record_cell(src, self.ns, execution_count=self.count, cell_id=cell_id,
                                 success=ok)

    def check(self, *names: str, notebook: str | None = None) -> Any:
        return self.tracker.check(names, notebook=notebook)


def test_clean_when_everything_ran_in_order() -> None:
    k = Kernel()
    k.cell("alpha = 1")
    k.cell("X = [alpha] * 3")
    report = k.check("X")
    assert (report.status, report.reasons) == ("clean", [])
    assert report.variables["X"]["execution_count"] == 2
    assert report.variables["X"]["reads"] == {"alpha": 1}


def test_stale_when_an_input_was_reassigned_and_clean_once_recomputed() -> None:
    k = Kernel()
    k.cell("alpha = 1")
    k.cell("X = [alpha] * 3")
    k.cell("alpha = 2")
    assert k.check("X").reasons == [
        "X was computed in In[2] from alpha, which was reassigned in In[3]; "
        "X was not recomputed since"]
    k.cell("X = [alpha] * 3")
    assert k.check("X").status == "clean"


def test_staleness_is_transitive() -> None:
    k = Kernel()
    k.cell("alpha = 1")
    k.cell("X = alpha + 1")
    k.cell("Y = X * 2")
    k.cell("alpha = 5")
    report = k.check("Y")
    assert report.status == "stale"
    assert report.reasons == [
        "Y depends on X: X was computed in In[2] from alpha, which was reassigned in In[4]; "
        "X was not recomputed since"]


def test_in_place_change_of_an_input_makes_dependents_stale() -> None:
    k = Kernel()
    k.cell("data = [1, 2]")
    k.cell("total = sum(data)")
    k.cell("data.append(3)")
    assert "total was computed in In[2] from data" in k.check("total").reasons[0]


def test_a_model_fitted_later_keeps_the_inputs_of_its_construction() -> None:
    k = Kernel(make=dict)
    k.cell("n = 3")
    k.cell("model = make(n=n)")
    k.cell("model.update(fitted=True)")
    k.cell("n = 4")
    assert k.check("model").reasons == [
        "model was computed in In[3] from n, which was reassigned in In[4]; "
        "model was not recomputed since"]


def test_modules_are_not_inputs() -> None:
    k = Kernel()
    k.cell("import json\nX = json.dumps([1])")
    k.cell("json.decoder = json.decoder")  # poking a module does not stale X
    assert k.check("X").status == "clean"


def test_code_it_could_not_see_is_reported() -> None:
    k = Kernel()
    k.cell("exec('secret = 42')")
    k.cell("globals()['g'] = 1")
    k.cell("%%bash\necho hi")  # a foreign cell magic: body not Python
    report = k.check("secret", "g")
    assert report.status == "stale"
    assert report.reasons == [
        "g was assigned in In[2] by code nbmlops could not see (exec, %run, globals() or a "
        "cell magic)",
        "secret was assigned in In[1] by code nbmlops could not see (exec, %run, globals() or "
        "a cell magic)"]


def test_edited_cell_rerun_without_the_assignment() -> None:
    k = Kernel()
    k.cell("a = 1\nb = 2", cell_id="c1")
    k.cell("a = 10", cell_id="c1")  # the user deleted `b = 2` and re-ran
    assert k.check("a").status == "clean"
    assert k.check("b").reasons == [
        "b was produced by In[1], whose cell was since edited and re-run as In[2] without "
        "reassigning b"]


def test_code_missing_from_the_notebook_file(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a = 1"), nbformat.v4.new_markdown_cell("b = 2")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    k = Kernel()
    k.cell("a = 1\n")  # same code, modulo surrounding whitespace
    k.cell("b = 2")    # typed in a cell that was then deleted (or is only markdown now)
    assert k.check("a", notebook=str(path)).status == "clean"
    assert k.check("b", notebook=str(path)).reasons == [
        "b was produced by In[2], whose code no longer appears in nb.ipynb (as saved on disk)"]
    assert k.check("b", notebook=str(tmp_path / "missing.ipynb")).status == "clean"


def test_deleted_input_and_failed_cells() -> None:
    k = Kernel()
    k.cell("a = 1")
    k.cell("b = a + 1")
    k.cell("del a")
    assert "which has since been deleted" in k.check("b").reasons[0]
    k.cell("c = 1")
    k.cell("d = c\nc = 1 / 0\n")  # fails after assigning d: c keeps its In[4] value
    report = k.check("d")
    assert report.status == "clean"
    assert report.variables["d"]["execution_count"] == 5


def test_unknown_variables_are_listed_without_a_verdict() -> None:
    k = Kernel(before=1)  # defined before the tracker started
    assert k.check("before").variables == {"before": {"known": False}}
    assert k.check("before").status == "clean"
