"""The ASGI app in-process (httpx.ASGITransport): protocols, errors, auth, metrics, logs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest

from nbmlops.serving.app import ServeOptions, create_app
from nbmlops.serving.service import ModelService
from tests.conftest import wait_until
from tests.serving.conftest import COLUMNS, make_data, register


def records(frame: Any, n: int) -> list[dict[str, Any]]:
    return frame.head(n).to_dict(orient="records")


def app_for(ref: str, runtime: str = "auto", **opts: Any) -> Any:
    return create_app(ModelService(ref, runtime), ServeOptions(**opts))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_mlflow_payloads_all_match_the_model(churn: str, asgi_client: Any) -> None:
    import nbmlops

    frame, _ = make_data()
    want = nbmlops.load_model("churn@production").predict(frame.head(5)).tolist()
    bodies = [
        {"dataframe_split": frame.head(5).to_dict(orient="split", index=False)},
        {"dataframe_records": records(frame, 5)},
        {"instances": frame.head(5).values.tolist()},
        {"inputs": {c: frame[c].head(5).tolist() for c in COLUMNS}},
    ]

    async def go() -> None:
        async with asgi_client(app_for("churn@production")) as c:
            for body in bodies:
                r = await c.post("/invocations", json=body)
                assert r.status_code == 200, r.text
                assert r.json() == {"predictions": want}
                assert r.headers["x-model-version"] == "1"
                assert "predict;dur=" in r.headers["server-timing"]
            r = await c.post("/invocations", content=frame.head(5).to_csv(index=False),
                             headers={"content-type": "text/csv"})
            assert r.json()["predictions"] == want
            r = await c.post("/invocations?probabilities=true",
                             json={"dataframe_records": records(frame, 2)})
            assert np.allclose(np.sum(r.json()["probabilities"], axis=1), 1.0)

    run(go())


def test_kserve_v2_infer_and_metadata(churn: str, asgi_client: Any) -> None:
    import nbmlops

    frame, _ = make_data()
    model = nbmlops.load_model("churn/1")
    want, proba = model.predict(frame.head(3)), model.predict_proba(frame.head(3))
    two_d = {"inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64",
                         "data": frame.head(3).values.tolist()}]}
    per_col = {"id": "abc", "inputs": [
        {"name": c, "shape": [3], "datatype": "FP64", "data": frame[c].head(3).tolist()}
        for c in reversed(COLUMNS)]}

    async def go() -> None:
        async with asgi_client(app_for("churn@production")) as c:
            for body in (two_d, per_col):
                r = await c.post("/v2/models/churn/infer", json=body)
                assert r.status_code == 200, r.text
                out = {o["name"]: o for o in r.json()["outputs"]}
                assert out["predict"]["data"] == want.tolist()
                assert out["predict_proba"]["shape"] == [3, 2]
                assert np.allclose(out["predict_proba"]["data"], proba.ravel(), atol=1e-6)
            assert r.json()["id"] == "abc" and r.json()["model_version"] == "1"
            only = {**two_d, "outputs": [{"name": "predict"}]}
            r = await c.post("/v2/models/churn/versions/1/infer", json=only)
            assert [o["name"] for o in r.json()["outputs"]] == ["predict"]
            meta = (await c.get("/v2/models/churn")).json()
            assert [i["name"] for i in meta["inputs"]] == COLUMNS and meta["versions"] == ["1"]
            assert (await c.get("/v2/health/ready")).json() == {"ready": True}
            r = await c.post("/v2/models/other/infer", json=two_d)
            assert r.status_code == 404 and "serves churn version 1" in r.json()["error"]
            r = await c.post("/v2/models/churn/infer",
                             json={**two_d, "outputs": [{"name": "embedding"}]})
            assert r.status_code == 400 and "unknown output(s) 'embedding'" in r.json()["error"]

    run(go())


def test_bad_requests_get_json_errors(churn: str, asgi_client: Any) -> None:
    async def go() -> None:
        async with asgi_client(app_for("churn@production", max_body_bytes=2000)) as c:
            r = await c.post("/invocations", content=b'{"instances": [[1, 2,',
                             headers={"content-type": "application/json"})
            assert r.status_code == 400 and "malformed JSON at line 1" in r.json()["error"]
            r = await c.post("/invocations", content=b"age=1",
                             headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code == 415 and "application/json" in r.json()["error"]
            r = await c.post("/invocations", content=b"",
                             headers={"content-type": "application/json"})
            assert r.status_code == 400 and "empty" in r.json()["error"]
            big = b'{"instances": [' + b"[1, 2, 3, 4]," * 500 + b"[1, 2, 3, 4]]}"
            r = await c.post("/invocations", content=big,
                             headers={"content-type": "application/json"})
            assert r.status_code == 413 and "limit of 2000 bytes" in r.json()["error"]

            async def chunks() -> Any:  # no Content-Length: counted while streaming
                for _ in range(100):
                    yield b" " * 100

            r = await c.post("/invocations", content=chunks(),
                             headers={"content-type": "application/json"})
            assert r.status_code == 413
            r = await c.post("/invocations", json={"dataframe_records": [{"age": "x"}]})
            assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
            assert r.json()["expected"]["columns"] == COLUMNS
            assert (await c.get("/health")).status_code == 200

    run(go())


def test_token_protects_everything_but_health(churn: str, asgi_client: Any) -> None:
    body = {"instances": [[30, 50_000.0, 3, 0.5]]}

    async def go() -> None:
        async with asgi_client(app_for("churn@production", token="s3cret")) as c:
            r = await c.post("/invocations", json=body)
            assert r.status_code == 401 and "missing bearer token" in r.json()["error"]
            assert r.headers["www-authenticate"].startswith("Bearer")
            r = await c.post("/invocations", json=body, headers={"Authorization": "Bearer no"})
            assert r.status_code == 401 and "wrong bearer token" in r.json()["error"]
            ok = {"Authorization": "Bearer s3cret"}
            assert (await c.post("/invocations", json=body, headers=ok)).status_code == 200
            assert (await c.get("/metrics")).status_code == 401
            assert (await c.get("/health")).status_code == 200
            assert (await c.get("/v2/health/live")).status_code == 200

    run(go())


def test_metrics_count_requests_predictions_and_version(churn: str, asgi_client: Any) -> None:
    async def go() -> str:
        async with asgi_client(app_for("churn@production", runtime="onnx")) as c:
            await c.post("/invocations", json={"instances": [[30, 1.0, 3, 0.5]] * 3})
            await c.post("/invocations", json={"instances": [[30]]})
            return (await c.get("/metrics")).text

    text = run(go())
    assert 'nbmlops_requests_total{endpoint="/invocations",status="200"} 1.0' in text
    assert 'nbmlops_requests_total{endpoint="/invocations",status="400"} 1.0' in text
    assert 'nbmlops_predictions_total{version="1"} 3.0' in text
    assert 'nbmlops_model_info{name="churn",runtime="onnx",version="1"} 1.0' in text
    # the latency histogram is checked against real load in benchmarks/bench_serving.py


def test_predictions_and_feedback_reach_the_store(churn: str, asgi_client: Any) -> None:
    from nbmlops.store.serving import serving_store

    async def go() -> str:
        async with asgi_client(app_for("churn@production")) as c:
            r = await c.post("/invocations", json={"instances": [[30, 1.0, 3, 0.5]]},
                             headers={"X-Request-Id": "req-1"})
            assert r.headers["x-request-id"] == "req-1"
            r = await c.post("/feedback", json={"request_id": "req-1", "label": [1]})
            assert r.status_code == 202 and r.json() == {"accepted": 1}
            bad = await c.post("/feedback", json={"label": 1})
            assert bad.status_code == 400 and "request_id" in bad.json()["error"]
            return str(r.status_code)

    run(go())  # leaving the lifespan flushes the logger
    (row,) = serving_store().predictions("churn")
    assert row["request_id"] == "req-1" and row["version"] == 1 and row["n_rows"] == 1
    assert row["inputs"] == {"age": [30], "income": [1.0], "visits": [3], "score": [0.5]}
    assert row["outputs"]["predictions"] in ([0], [1]) and row["label"] == [1]
    assert row["latency_ms"] > 0


def test_store_outage_keeps_serving_and_shows_in_metrics(churn: str, asgi_client: Any) -> None:
    from nbmlops.serving.metrics import ServingMetrics
    from nbmlops.serving.requestlog import PredictionLogger

    def broken() -> Any:
        raise OSError("disk on fire")

    metrics = ServingMetrics()
    logger = PredictionLogger("churn", metrics, store_factory=broken, flush_interval=0.05)
    app = create_app(ModelService("churn@production"), metrics=metrics, logger=logger)

    async def go() -> str:
        async with asgi_client(app) as c:
            for _ in range(3):
                r = await c.post("/invocations", json={"instances": [[30, 1.0, 3, 0.5]]})
                assert r.status_code == 200
            # the logger flushes on its own thread: poll until its failed write is counted
            wait_until(lambda: b"nbmlops_prediction_log_store_up 0.0" in metrics.render(),
                       "the failed flush to show in the metrics", timeout=10)
            return (await c.get("/metrics")).text

    text = run(go())
    assert "nbmlops_prediction_log_store_up 0.0" in text
    assert "nbmlops_prediction_log_pending 3.0" in text
    assert "nbmlops_prediction_log_failures_total 0.0" not in text


def test_micro_batching_gives_each_request_its_own_answer(churn: str, asgi_client: Any) -> None:
    frame, _ = make_data()
    rows = frame.head(24).values.tolist()
    app = app_for("churn@production", runtime="sklearn", batching="on")

    async def go() -> tuple[list[Any], list[Any], str]:
        async with asgi_client(app) as c:
            single = [(await c.post("/invocations", json={"instances": [r]})).json()
                      for r in rows[:4]]
            together = await asyncio.gather(*(c.post(
                "/invocations?probabilities=true", json={"instances": [r]}) for r in rows))
            return single, [t.json() for t in together], (await c.get("/metrics")).text

    single, together, text = run(go())
    import nbmlops

    model = nbmlops.load_model("churn/1")
    assert [t["predictions"][0] for t in together] == model.predict(frame.head(24)).tolist()
    assert np.allclose([t["probabilities"][0] for t in together],
                       model.predict_proba(frame.head(24)))
    assert [s["predictions"] for s in single] == [t["predictions"] for t in together[:4]]
    # the 24 concurrent requests were predicted in fewer model calls than requests
    count = float(text.split("nbmlops_microbatch_rows_count ")[1].split()[0])
    assert count < 28


def test_hot_swap_in_process_follows_the_alias(churn: str, asgi_client: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from nbmlops.registry.aliases import set_alias

    service = ModelService("churn@production", poll_interval=0.05)
    app = create_app(service)
    v2 = register("churn", DecisionTreeClassifier(max_depth=3), alias=None)

    async def go() -> list[str]:
        seen = []
        async with asgi_client(app) as c:
            set_alias("churn", "production", v2)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = await c.post("/invocations", json={"instances": [[30, 1.0, 3, 0.5]]})
                assert r.status_code == 200
                seen.append(r.headers["x-model-version"])
                if seen[-1] == "2":
                    break
                await asyncio.sleep(0.02)
            seen.append((await c.get("/metrics")).text)
        return seen

    seen = run(go())
    assert seen[-2] == "2" and "nbmlops_model_swaps_total 1.0" in seen[-1]


def test_openapi_describes_every_endpoint(churn: str, asgi_client: Any) -> None:
    async def go() -> dict[str, Any]:
        async with asgi_client(app_for("churn@production")) as c:
            return dict((await c.get("/openapi.json")).json())

    doc = go()
    spec = run(doc)
    for path in ("/invocations", "/feedback", "/health", "/version", "/metrics",
                 "/v2/health/live", "/v2/health/ready", "/v2/models/{model_name}",
                 "/v2/models/{model_name}/infer"):
        assert path in spec["paths"], path
    body = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(body)


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_runtimes_agree(churn: str, runtime: str) -> None:
    service = ModelService("churn@production", runtime)
    assert service.current.runtime.name == runtime
    frame, _ = make_data()
    arrays = {c: frame[c].to_numpy() for c in COLUMNS}
    out = service.current.runtime.predict(arrays, proba=True)
    import nbmlops

    model = nbmlops.load_model("churn/1")
    assert out.predictions.tolist() == model.predict(frame).tolist()
    assert np.allclose(out.probabilities, model.predict_proba(frame), atol=1e-6)
