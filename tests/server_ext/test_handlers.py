"""The sidebar's REST routes through a real Jupyter server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.conftest import await_until
from tests.server_ext.seed import Seeded, dump, seed

API = ("nbmlops", "api")

#: (method, path parts, body) of every route
ROUTES: list[tuple[str, tuple[str, ...], str | None]] = [
    ("GET", ("status",), None),
    ("GET", ("runs",), None),
    ("GET", ("runs", "abc"), None),
    ("GET", ("runs", "abc", "diff", "def"), None),
    ("GET", ("models",), None),
    ("GET", ("models", "churn"), None),
    ("PUT", ("models", "churn", "aliases", "production"),
     json.dumps({"version": 1, "reason": "x"})),
    ("GET", ("deployments",), None),
    ("GET", ("pipelines",), None),
    ("POST", ("pipelines", "steps"), json.dumps({"notebook": "a.ipynb"})),
    ("GET", ("pipelines", "steps", "abc"), None),
]


async def fetch(jp_fetch: Any, *parts: str, **kwargs: Any) -> dict[str, Any]:
    """Return the JSON of a 200 answer."""
    r = await jp_fetch(*API, *parts, **kwargs)
    assert r.code == 200
    return json.loads(r.body)  # type: ignore[no-any-return]


async def fail(jp_fetch: Any, status: int, *parts: str, **kwargs: Any) -> dict[str, Any]:
    """Return the ``error`` object of an answer that must have HTTP ``status``."""
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(*API, *parts, **kwargs)
    assert info.value.code == status, info.value.response.body if info.value.response else ""
    body = json.loads(info.value.response.body)  # type: ignore[union-attr]
    assert set(body) == {"error"}, body
    assert "Traceback" not in json.dumps(body)
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def seeded(nbmlops_home: Path) -> Seeded:
    return seed()


# auth ------------------------------------------------------------------------------------
async def test_unauthenticated_request_is_refused_on_every_route(
        jp_fetch: Any, seeded: Seeded, nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    for method, parts, body in ROUTES:
        error = await fail(jp_fetch, 403, *parts, method=method, body=body,
                           headers={"Authorization": ""})
        assert error["code"] == "forbidden", (method, parts)
    assert dump(nbmlops_home) == before


async def test_every_route_is_authenticated(jp_serverapp: Any) -> None:
    """check_auth: no nbmlops handler would make jupyter_server warn about missing auth."""
    from jupyter_server.base.handlers import APIHandler
    from jupyter_server.utils import JupyterServerAuthWarning

    from nbmlops.server_ext.handlers import routes

    web_app = jp_serverapp.web_app
    table = routes("/", "/tmp")
    assert len(table) == len(ROUTES)
    for pattern, handler, _ in table:
        assert web_app._check_handler_auth(pattern, handler) == [], pattern

    class Unguarded(APIHandler):  # the check must notice a handler without @authenticated
        def get(self) -> None: ...

    assert web_app._check_handler_auth("/x", Unguarded)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JupyterServerAuthWarning)
        web_app.add_handlers(".*$", table)  # raises if any route lacks authentication
        with pytest.raises(JupyterServerAuthWarning):
            web_app.add_handlers(".*$", [("/nbmlops-unguarded", Unguarded)])


# runs ------------------------------------------------------------------------------------
async def test_runs_page_and_next_page(jp_fetch: Any, seeded: Seeded) -> None:
    first = await fetch(jp_fetch, "runs", params={"page_size": "2"})
    assert [r["run_id"] for r in first["runs"]] == seeded.run_ids[:2]
    assert first["total"] == 3 and first["next_page_token"]
    run = first["runs"][0]
    assert {"run_id", "name", "status", "start_time", "params", "metrics"} <= set(run)
    assert run["params"] == {"C": 10.0} and run["status"] == "FINISHED"
    second = await fetch(jp_fetch, "runs", params={"page_size": "2",
                                                    "page_token": first["next_page_token"]})
    assert [r["run_id"] for r in second["runs"]] == seeded.run_ids[2:]
    assert second["next_page_token"] is None


async def test_runs_filter_experiment_and_order(jp_fetch: Any, seeded: Seeded) -> None:
    body = await fetch(jp_fetch, "runs", params={"filter": "params.C >= 1",
                                                  "order_by": "params.C ASC"})
    assert [r["params"]["C"] for r in body["runs"]] == [1.0, 10.0]
    none = await fetch(jp_fetch, "runs", params={"experiment": "other"})
    assert none["runs"] == [] and none["total"] == 0


BAD_RUNS_QUERIES = [
    ({"filter": "metrics.acc >>> 1"}, "metrics.acc >>> 1"),
    ({"filter": "nonsense.col = 1"}, "nonsense.col"),
    ({"page_size": "0"}, "0"),
    ({"page_size": "many"}, "many"),
    ({"page_size": "5000"}, "5000"),
    ({"page_token": "not-a-token"}, "not-a-token"),
    ({"order_by": "params.C SIDEWAYS"}, "SIDEWAYS"),
]


async def test_runs_bad_query_is_400(jp_fetch: Any, seeded: Seeded, nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    for params, named in BAD_RUNS_QUERIES:
        error = await fail(jp_fetch, 400, "runs", params=params)
        assert error["code"] == "bad_request" and named in error["message"], (params, error)
    assert dump(nbmlops_home) == before


async def test_page_token_of_another_query_is_400(jp_fetch: Any, seeded: Seeded) -> None:
    first = await fetch(jp_fetch, "runs", params={"page_size": "1"})
    error = await fail(jp_fetch, 400, "runs", params={
        "page_size": "1", "filter": "params.C > 0", "page_token": first["next_page_token"]})
    assert "another query" in error["message"]


async def test_run_detail(jp_fetch: Any, seeded: Seeded) -> None:
    run = await fetch(jp_fetch, "runs", seeded.run_ids[0])
    assert run["run_id"] == seeded.run_ids[0] and run["experiment"] == "churn"
    assert run["params"] == {"C": 10.0}
    assert [p["step"] for p in run["metric_history"]["loss"]] == list(range(20))
    assert run["metric_history"]["loss"][0]["value"] == pytest.approx(1 / 3)
    assert run["provenance"]["status"] in ("clean", "stale", "unknown")
    assert "LogisticRegression(C=10.0)" in run["source"]
    assert [a["name"] for a in run["artifacts"]] == ["model"]


async def test_run_detail_gives_the_notebook_relative_to_the_root(
        jp_fetch: Any, jp_root_dir: Path, nbmlops_home: Path) -> None:
    nb = jp_root_dir / "sub" / "train.ipynb"
    inside = seed(notebook_path=str(nb))
    run = await fetch(jp_fetch, "runs", inside.run_ids[0])
    assert run["notebook"] == "sub/train.ipynb"


async def test_unknown_run_is_404(jp_fetch: Any, seeded: Seeded) -> None:
    error = await fail(jp_fetch, 404, "runs", "0" * 32)
    assert error["code"] == "not_found" and "0" * 32 in error["message"]


async def test_run_diff(jp_fetch: Any, seeded: Seeded) -> None:
    a, b = seeded.run_ids[1], seeded.run_ids[0]
    body = await fetch(jp_fetch, "runs", a, "diff", b)
    assert body["a"]["run_id"] == a and body["b"]["run_id"] == b
    assert [(c["key"], c["a"], c["b"]) for c in body["params"]] == [("C", 1.0, 10.0)]
    assert "C=10.0" in body["code"]


async def test_run_diff_unknown_is_404(jp_fetch: Any, seeded: Seeded) -> None:
    error = await fail(jp_fetch, 404, "runs", seeded.run_ids[0], "diff", "f" * 32)
    assert "f" * 32 in error["message"]


# models ----------------------------------------------------------------------------------
async def test_models_list_and_detail(jp_fetch: Any, seeded: Seeded) -> None:
    models = (await fetch(jp_fetch, "models"))["models"]
    assert [m["name"] for m in models] == ["churn"]
    assert models[0]["aliases"] == {"staging": seeded.good_version}
    assert models[0]["rollback_to"] == {"staging": None}  # a first assignment
    detail = await fetch(jp_fetch, "models", "churn")
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    v2 = detail["versions"][0]
    assert v2["checks"].startswith("1/2 failed")
    assert {c["check"]: c["passed"] for c in v2["check_results"]} == {
        "accuracy": False, "latency": True}
    assert detail["versions"][1]["aliases"] == ["staging"]
    assert "churn" in detail["card"]
    assert detail["alias_history"][0]["reason"] == "first candidate"
    assert detail["alias_history"][-1]["from_version"] is None  # a first assignment


async def test_unknown_model_is_404(jp_fetch: Any, seeded: Seeded) -> None:
    error = await fail(jp_fetch, 404, "models", "nope")
    assert "nope" in error["message"]


async def test_bad_model_name_is_400(jp_fetch: Any, seeded: Seeded) -> None:
    error = await fail(jp_fetch, 400, "models", "bad name!")
    assert "bad name!" in error["message"]


async def test_promote_through_the_gate(jp_fetch: Any, seeded: Seeded) -> None:
    body = await fetch(jp_fetch, "models", "churn", "aliases", "production", method="PUT",
                       body=json.dumps({"version": seeded.good_version, "reason": "ship it"}))
    assert body == {"name": "churn", "alias": "production", "version": seeded.good_version,
                    "aliases": ["production", "staging"]}
    detail = await fetch(jp_fetch, "models", "churn")
    assert detail["aliases"]["production"] == seeded.good_version
    assert detail["alias_history"][0]["reason"] == "ship it"


async def test_refused_promotion_is_409_with_failed_checks(jp_fetch: Any, seeded: Seeded,
                                                           nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    error = await fail(jp_fetch, 409, "models", "churn", "aliases", "production", method="PUT",
                       body=json.dumps({"version": seeded.bad_version, "reason": "try"}))
    assert error["code"] == "gate_refused" and error["ref"] == "churn/2"
    assert "accuracy" in error["message"]
    assert [c["check"] for c in error["failed_checks"]] == ["accuracy"]
    assert error["failed_checks"][0]["value"] == 0.41
    assert dump(nbmlops_home) == before


async def test_rollback_uses_the_previous_version(jp_fetch: Any, seeded: Seeded) -> None:
    import nbmlops

    nbmlops.promote("churn", seeded.good_version, "production")
    from nbmlops.registry import checks

    checks.start("churn/2", model=object())
    checks.check("accuracy", True, value=0.95)
    checks.finish()
    nbmlops.promote("churn", seeded.bad_version, "production")
    detail = await fetch(jp_fetch, "models", "churn")
    assert detail["rollback_to"] == {"production": seeded.good_version, "staging": None}
    [listed] = (await fetch(jp_fetch, "models"))["models"]  # what the sidebar's buttons read
    assert listed["rollback_to"] == detail["rollback_to"]
    await fetch(jp_fetch, "models", "churn", "aliases", "production", method="PUT",
                body=json.dumps({"version": detail["rollback_to"]["production"],
                                 "reason": "roll back"}))
    assert (await fetch(jp_fetch, "models", "churn"))["aliases"]["production"] == 1


BAD_ALIAS_BODIES = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"reason": "x"}), "version must be a positive integer, got None"),
    (json.dumps({"version": "1", "reason": "x"}), "got '1'"),
    (json.dumps({"version": 0, "reason": "x"}), "got 0"),
    (json.dumps({"version": True, "reason": "x"}), "got True"),
    (json.dumps({"version": 1}), "reason must be a non-empty string"),
    (json.dumps({"version": 1, "reason": "  "}), "reason must be a non-empty string"),
    (json.dumps({"version": 1, "reason": "x" * 501}), "at most 500"),
    (json.dumps({"version": 1, "reason": "x", "force": True}), "'force'"),
]


async def test_bad_promotion_body_is_400(jp_fetch: Any, seeded: Seeded,
                                         nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    for body, named in BAD_ALIAS_BODIES:
        error = await fail(jp_fetch, 400, "models", "churn", "aliases", "production",
                           method="PUT", body=body)
        assert error["code"] == "bad_request" and named in error["message"], (body, error)
    assert dump(nbmlops_home) == before


async def test_bad_promotion_target(jp_fetch: Any, seeded: Seeded, nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    for parts, status, named in [(("models", "nope", "aliases", "production"), 404, "nope"),
                                 (("models", "churn", "aliases", "bad alias"), 400, "bad alias")]:
        error = await fail(jp_fetch, status, *parts, method="PUT",
                           body=json.dumps({"version": 1, "reason": "x"}))
        assert named in error["message"]
    assert dump(nbmlops_home) == before


async def test_unknown_version_is_404(jp_fetch: Any, seeded: Seeded, nbmlops_home: Path) -> None:
    before = dump(nbmlops_home)
    error = await fail(jp_fetch, 404, "models", "churn", "aliases", "production", method="PUT",
                       body=json.dumps({"version": 9, "reason": "x"}))
    assert "9" in error["message"]
    assert dump(nbmlops_home) == before


# deployments and pipelines -----------------------------------------------------------------
async def test_deployments_and_pipelines_lists(jp_fetch: Any, seeded: Seeded) -> None:
    assert (await fetch(jp_fetch, "deployments")) == {"deployments": []}
    assert (await fetch(jp_fetch, "pipelines")) == {"pipelines": []}


@pytest.mark.slow
async def test_deployments_with_health(jp_fetch: Any, seeded: Seeded) -> None:
    import nbmlops

    dep = nbmlops.deploy("churn@staging")
    try:
        [item] = (await fetch(jp_fetch, "deployments"))["deployments"]
        assert item["name"] == dep.name and item["status"] == "running"
        assert item["url"] == dep.url and item["version"] == seeded.good_version
        assert item["health"]["ok"] is True and item["health"]["latency_ms"] > 0
        assert item["health"]["version"] == seeded.good_version
    finally:
        dep.stop()
    [item] = (await fetch(jp_fetch, "deployments"))["deployments"]
    assert item["status"] == "stopped" and item["health"] is None


async def test_pipeline_runs_with_steps(jp_fetch: Any, jp_root_dir: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("y = x + 1")]
    nbformat.write(nb, jp_root_dir / "step.ipynb")
    (jp_root_dir / "pipeline.yaml").write_text(
        "name: demo\nsteps:\n  first:\n    notebook: step.ipynb\n")

    def execute(input_path: str, output_path: str, **_: Any) -> Any:
        shutil.copy(input_path, output_path)
        return nbformat.read(output_path, as_version=4)

    from nbmlops.pipelines.runner import run_pipeline

    result = run_pipeline(jp_root_dir / "pipeline.yaml", execute=execute, progress=False)
    body = await fetch(jp_fetch, "pipelines")
    [pipe] = body["pipelines"]
    assert pipe["run_id"] == result.run_id and pipe["pipeline"] == "demo"
    assert [(s["step"], s["status"]) for s in pipe["steps"]] == [("first", "ran")]


# a notebook run as a pipeline step ---------------------------------------------------------
@pytest.mark.kernel
async def test_run_notebook_as_a_pipeline_step(jp_fetch: Any, jp_root_dir: Path) -> None:

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 41 + 1\nprint(x)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    (jp_root_dir / "work").mkdir()
    nbformat.write(nb, jp_root_dir / "work" / "hello world.ipynb")
    r = await jp_fetch(*API, "pipelines", "steps", method="POST",
                       body=json.dumps({"notebook": "work/hello world.ipynb"}))
    assert r.code == 202
    job = json.loads(r.body)
    assert job["status"] == "running" and job["notebook"] == "work/hello world.ipynb"
    async def done() -> dict[str, Any] | None:
        current = await fetch(jp_fetch, "pipelines", "steps", job["job_id"])
        return None if current["status"] == "running" else current

    job = await await_until(done, "the pipeline step job to finish", timeout=180)
    assert job["status"] == "finished", job
    assert job["steps"] == [{"step": "hello-world", "status": "ran", "reason": "forced (--force)"}]
    [pipe] = (await fetch(jp_fetch, "pipelines"))["pipelines"]
    assert pipe["run_id"] == job["pipeline_run_id"] and pipe["status"] == "FINISHED"
    [step] = pipe["steps"]
    assert step["run_id"] == job["run_id"] and step["executed_notebook"] is None  # not under root


async def test_bad_step_request(jp_fetch: Any, jp_root_dir: Path, nbmlops_home: Path) -> None:
    for body, status, named in [
        ("{}", 400, "got None"),
        (json.dumps({"notebook": "data.csv"}), 400, "'data.csv'"),
        (json.dumps({"notebook": "../outside.ipynb"}), 400, "outside the server root"),
        (json.dumps({"notebook": "missing.ipynb"}), 404, "missing.ipynb"),
        (json.dumps({"notebook": "a.ipynb", "params": {}}), 400, "'params'"),
    ]:
        error = await fail(jp_fetch, status, "pipelines", "steps", method="POST", body=body)
        assert named in error["message"], (body, error)
    assert not nbmlops_home.exists()


async def test_unknown_step_job_is_404(jp_fetch: Any) -> None:
    error = await fail(jp_fetch, 404, "pipelines", "steps", "nope")
    assert "nope" in error["message"]


# the store itself ------------------------------------------------------------------------------
async def test_empty_store_answers_empty_and_creates_nothing(jp_fetch: Any,
                                                             nbmlops_home: Path) -> None:
    status = await fetch(jp_fetch, "status")
    assert status["empty"] is True
    runs = await fetch(jp_fetch, "runs")
    assert runs["runs"] == [] and runs["total"] == 0 and runs["store"] == "empty"
    assert (await fetch(jp_fetch, "models")) == {"models": []}
    assert (await fetch(jp_fetch, "deployments")) == {"deployments": []}
    assert (await fetch(jp_fetch, "pipelines")) == {"pipelines": []}
    await fail(jp_fetch, 404, "runs", "a" * 32)
    await fail(jp_fetch, 404, "models", "churn")
    error = await fail(jp_fetch, 400, "runs", params={"page_size": "0"})
    assert "0" in error["message"]
    assert not nbmlops_home.exists()  # polling never creates a store


async def test_store_that_disappears_and_comes_back(jp_fetch: Any, seeded: Seeded,
                                                    nbmlops_home: Path) -> None:
    assert (await fetch(jp_fetch, "runs"))["total"] == 3
    shutil.rmtree(nbmlops_home)
    gone = await fetch(jp_fetch, "runs")
    assert gone["runs"] == [] and gone["store"] == "empty"
    await fail(jp_fetch, 404, "runs", seeded.run_ids[0])
    again = seed()
    body = await fetch(jp_fetch, "runs")
    assert body["total"] == 3 and body["runs"][0]["run_id"] == again.run_ids[0]


async def test_store_of_a_newer_schema_is_503(jp_fetch: Any, seeded: Seeded,
                                              nbmlops_home: Path) -> None:
    import sqlite3

    from nbmlops import store
    from nbmlops.store import schema

    store.reset()
    conn = sqlite3.connect(nbmlops_home / "nbmlops.db")
    with conn:
        conn.execute("UPDATE nbmlops_meta SET value = ? WHERE key = 'schema_version'",
                     (str(schema.SCHEMA_VERSION + 1),))
    conn.close()
    for parts in (("runs",), ("models",), ("runs", seeded.run_ids[0])):
        error = await fail(jp_fetch, 503, *parts)
        assert error["code"] == "store_unavailable"
        assert "newer nbmlops" in error["message"] and "upgrade nbmlops" in error["message"]


async def test_unknown_route_is_json_404(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(*API, "nothing-here")
    assert info.value.code == 404
