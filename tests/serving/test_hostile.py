"""Hostile and odd input in-process: every refusal is a JSON 4xx, every surprise a JSON 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from nbmlops.serving.app import ServeOptions, create_app
from nbmlops.serving.service import ModelService

ROW = [30, 50_000.0, 3, 0.5]
V2_OK = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [ROW]}]}
JSON = {"content-type": "application/json"}


def app_for(**opts: Any) -> Any:
    return create_app(ModelService("churn@production"), ServeOptions(**opts))


def call(app: Any, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Send (method, path, body) requests in one app lifespan; bytes bodies go raw as JSON."""

    async def go() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                out = []
                for method, path, body in requests:
                    if isinstance(body, bytes):
                        out.append(await c.request(method, path, content=body, headers=JSON))
                    else:
                        out.append(await c.request(method, path, json=body))
                return out

    return asyncio.run(go())


def assert_json_error(r: httpx.Response, status: int, needle: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert needle in body["error"], body["error"]
    assert "Traceback" not in r.text


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@pytest.mark.parametrize(("path", "body", "status", "needle"), [
    ("/v2/models/churn/infer", {**V2_OK, "outputs": []}, 400, '"outputs" is empty'),
    ("/v2/models/churn/infer", {"inputs": [{**V2_OK["inputs"][0], "datatype": {"a": 1}}]},
     400, "datatype {'a': 1} is not one of BOOL"),
    ("/v2/models/churn/infer", {"inputs": [{**V2_OK["inputs"][0], "datatype": ["FP64"]}]},
     400, "datatype ['FP64'] is not one of"),
    ("/v2/models/churn/infer", {"inputs": [{**V2_OK["inputs"][0], "shape": [True, 4]}]},
     400, "shape must be [rows] or [rows, columns]"),
    ("/invocations", b'{"instances": ' + deep(1000) + b"}", 400, "nested 1001 levels deep"),
    ("/v2/models/churn/infer", b'{"inputs": ' + deep(1000) + b"}", 400, "the limit is 32"),
    ("/feedback", b'{"request_id": "a", "label": ' + deep(1000) + b"}", 400, "the limit is 32"),
    ("/feedback", b'{"feedback": ' + deep(40) + b"}", 400, "nested 41 levels deep"),
    ("/invocations", b'{"instances": [[' + b"9" * 5000 + b', 1, 2, 3]]}', 400,
     "a number that cannot be read: Exceeds the limit (4300 digits)"),
    ("/v2/models/churn/infer", b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", '
     b'"data": [' + b"1" * 4400 + b", 1, 2, 3]}]}", 400, "(4300 digits)"),
    ("/feedback", b'{"request_id": "a", "label": ' + b"7" * 4301 + b"}", 400, "4300 digits"),
    ("/invocations", {"instances": [[[[[[1]]]], 2, 3, 4]]}, 400, "row 0 has [[[[1]]]] (array)"),
    ("/invocations", {"instances": [["x" * 10_000, 2, 3, 4]]}, 400, "xxxxxxxxx... (string)"),
    ("/feedback", {"request_id": "", "label": 1}, 400, "1 to 64 of A-Z a-z 0-9"),
    ("/feedback", {"request_id": "a b", "label": 1}, 400, "needs a request_id"),
    ("/feedback", {"request_id": "a", "label": {"x": 1}}, 400, "not nested JSON"),
])
def test_hostile_bodies_get_a_json_400(churn: str, path: str, body: Any, status: int,
                                       needle: str) -> None:
    r, health = call(app_for(), [("POST", path, body), ("GET", "/health", None)])
    assert_json_error(r, status, needle)
    assert len(r.json()["error"]) < 600  # client input is never echoed in full
    assert health.status_code == 200


def test_bracket_counting_ignores_strings(churn: str) -> None:
    # brackets inside strings (and escaped quotes) do not count towards the depth limit
    name = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[[['
    record = dict(zip(["age", "income", "visits", "score"], ROW, strict=True))
    body = json.dumps({"dataframe_records": [{**record, name: 1}]})
    (r,) = call(app_for(), [("POST", "/invocations", body.encode())])
    assert_json_error(r, 400, "unknown column(s)")  # reached validation: not a depth error


def test_row_limit_answers_413(churn: str) -> None:
    app = app_for(max_rows=10)
    csv = "age,income,visits,score\n" + "30,1.0,3,0.5\n" * 11
    r = call(app, [
        ("POST", "/invocations", {"instances": [ROW] * 11}),
        ("POST", "/invocations", {"dataframe_records": [dict(zip("abcd", ROW, strict=True))]}),
        ("POST", "/v2/models/churn/infer", {"inputs": [{"name": "x", "shape": [11, 4],
                                                        "datatype": "FP64",
                                                        "data": [ROW] * 11}]}),
        ("POST", "/invocations", {"instances": [ROW] * 10}),
    ])
    assert_json_error(r[0], 413, "the request has 11 rows; the limit is 10 rows per request")
    assert r[1].status_code == 400  # a bad small request is still a 400
    assert_json_error(r[2], 413, "the limit is 10 rows")
    assert r[3].status_code == 200

    async def post_csv() -> httpx.Response:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://t") as c:
                return await c.post("/invocations", content=csv,
                                    headers={"content-type": "text/csv"})

    assert_json_error(asyncio.run(post_csv()), 413, "the limit is 10 rows")


def test_unexpected_exception_is_a_json_500_without_traceback(
        churn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops.serving.predict as predict

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals\nTraceback (most recent call last)")

    monkeypatch.setattr(predict, "validate", broken)
    r, health = call(app_for(), [("POST", "/invocations", {"instances": [ROW]}),
                                 ("GET", "/health", None)])
    assert_json_error(r, 500, "internal error (RuntimeError) while answering /invocations")
    assert "secret" not in r.text and r.json()["error_code"] == "INTERNAL_ERROR"
    assert health.status_code == 200


def test_routing_errors_use_the_error_format(churn: str) -> None:
    r404, r405 = call(app_for(), [("GET", "/nope", None), ("GET", "/invocations", None)])
    assert_json_error(r404, 404, "Not Found: GET /nope")
    assert_json_error(r405, 405, "Method Not Allowed: GET /invocations")


def test_feedback_for_an_unknown_request_id_is_refused(churn: str) -> None:
    from nbmlops.store.serving import serving_store

    app = app_for()
    r = call(app, [
        ("POST", "/feedback", {"request_id": "never-issued", "label": 1}),
        ("POST", "/invocations", {"instances": [ROW]}),
    ])
    assert_json_error(r[0], 404, "unknown request id(s) 'never-issued'")
    rid = r[1].headers["x-request-id"]
    mixed = {"feedback": [{"request_id": rid, "label": 1}, {"request_id": "ghost", "label": 0}]}
    (bad,) = call(app, [("POST", "/feedback", mixed)])
    assert_json_error(bad, 404, "'ghost'")
    # a later server process (nothing in memory) still finds the id in the store
    (ok,) = call(app_for(), [("POST", "/feedback", {"request_id": rid, "label": 1})])
    assert ok.status_code == 202, ok.text
    (row,) = serving_store().predictions("churn")
    assert row["request_id"] == rid and row["label"] == 1
    (off,) = call(app_for(log_predictions=False),
                  [("POST", "/feedback", {"request_id": rid, "label": 1})])
    assert_json_error(off, 409, "does not log predictions")


def test_openapi_document_matches_the_server(churn: str) -> None:
    (r,) = call(app_for(token="t0k"), [("GET", "/openapi.json", None)])
    assert r.status_code == 401  # the document is protected like the rest
    app = app_for(token="t0k")
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearer": []}]
    paths = doc["paths"]
    assert paths["/health"]["get"]["security"] == []
    assert "404" in paths["/v2/models/{model_name}/infer"]["post"]["responses"]
    assert "404" in paths["/v2/models/{model_name}"]["get"]["responses"]
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert set(paths["/ping"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    fb = paths["/feedback"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert fb["oneOf"][0]["properties"]["request_id"]["minLength"] == 1
    v2 = paths["/v2/models/{model_name}/infer"]["post"]["requestBody"]["content"]
    tensor = v2["application/json"]["schema"]["properties"]["inputs"]["items"]
    assert tensor["properties"]["shape"]["minItems"] == 1
    inv = paths["/invocations"]["post"]["requestBody"]["content"]
    assert inv["text/csv"]["schema"]["minLength"] == 1
    assert all("422" not in op["responses"] for ops in paths.values() for op in ops.values())
    assert "security" not in app_for().openapi()  # no token: nothing to send


def test_the_documented_copy_is_the_served_document(churn: str) -> None:
    from pathlib import Path

    import yaml

    copy = yaml.safe_load((Path(__file__).parents[2] / "docs/api/serving-openapi.yaml")
                          .read_text())
    served = app_for(token="t0k").openapi()
    assert copy["paths"] == served["paths"]  # regenerate it as its first line says
    assert copy["components"] == served["components"]
    assert copy["security"] == served["security"]
