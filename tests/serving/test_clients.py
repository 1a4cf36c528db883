"""Real V2 clients against a real server: tritonclient.http with JSON and binary tensors."""

from __future__ import annotations

import importlib.util
import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import require
from tests.serving.conftest import COLUMNS


@pytest.fixture
def triton(live: dict[str, Any]) -> Any:
    require(importlib.util.find_spec("tritonclient") is not None,
            "tritonclient is not installed (pip install -e '.[dev]')")
    import tritonclient.http as th

    client = th.InferenceServerClient(live["url"].removeprefix("http://"))
    yield th, client
    client.close()


def expected(live: dict[str, Any], n: int) -> tuple[np.ndarray, np.ndarray]:
    import nbmlops

    frame = live["frame"].head(n)
    model = nbmlops.load_model("churn/1")  # from the live server's store (fixture below)
    return model.predict(frame), model.predict_proba(frame)


@pytest.fixture
def model_in_live_home(live: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from nbmlops import store

    monkeypatch.setenv("NBMLOPS_HOME", str(live["home"]))
    store.reset()
    yield
    store.reset()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_in_json_and_binary_mode(triton: Any, live: dict[str, Any],
                                                     model_in_live_home: None,
                                                     binary: bool) -> None:
    th, client = triton
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("churn")
    meta = client.get_model_metadata("churn")
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert meta["outputs"][0] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    want, proba = expected(live, 5)
    x = live["frame"].head(5).to_numpy(dtype=np.float64)

    two_d = th.InferInput("input-0", list(x.shape), "FP64")
    two_d.set_data_from_numpy(x, binary_data=binary)
    outputs = [th.InferRequestedOutput("predict", binary_data=binary),
               th.InferRequestedOutput("predict_proba", binary_data=binary)]
    res = client.infer("churn", [two_d], outputs=outputs)
    assert res.as_numpy("predict").tolist() == want.tolist()
    assert np.allclose(res.as_numpy("predict_proba"), proba, atol=1e-6)
    tensors = res.get_response()["outputs"]
    assert all(("parameters" in t) is binary for t in tensors)

    # one 1-D tensor per column, typed as the signature (INT64 for the integer columns)
    per_col = []
    for c in COLUMNS:
        values = live["frame"][c].head(5).to_numpy()
        t = th.InferInput(c, [5], "INT64" if values.dtype.kind == "i" else "FP64")
        t.set_data_from_numpy(values, binary_data=binary)
        per_col.append(t)
    res = client.infer("churn", per_col, model_version="1")  # no outputs: all, as binary
    assert res.as_numpy("predict").tolist() == want.tolist()
    assert "parameters" in res.get_response()["outputs"][0]


def test_tritonclient_sees_refusals_as_errors(triton: Any, live: dict[str, Any]) -> None:
    th, client = triton
    from tritonclient.utils import InferenceServerException

    x = np.zeros((2, 3))
    bad = th.InferInput("input-0", [2, 3], "FP64")
    bad.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException, match=r"a 2-D input needs \[rows, 4\]"):
        client.infer("churn", [bad])
    with pytest.raises(InferenceServerException, match="is not served here"):
        client.infer("other", [bad])


def test_v2_without_content_type_and_with_raw_binary(live: dict[str, Any]) -> None:
    url = f"{live['url']}/v2/models/churn/infer"
    row = [30, 50_000.0, 3, 0.5]
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                   "data": row}]}).encode()
    r = httpx.post(url, content=body)  # no Content-Type, as tritonclient sends it
    assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [1]
    r = httpx.post(url, content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 415 and "no Content-Type" in r.json()["error"]
    # binary input and output by hand: header length, sizes, little-endian FP64
    head = json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                   "parameters": {"binary_data_size": 32}}],
                       "outputs": [{"name": "predict_proba",
                                    "parameters": {"binary_data": True}}]}).encode()
    r = httpx.post(url, content=head + struct.pack("<4d", *row),
                   headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    doc = json.loads(r.content[:n])
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert np.isclose(sum(struct.unpack("<2d", r.content[n:])), 1.0)
    for content, headers, needle in [
        (head + b"\0" * 31, {"Inference-Header-Content-Length": str(len(head))},
         "does not fit the 31 bytes"),
        (head + b"\0" * 40, {"Inference-Header-Content-Length": str(len(head))},
         "8 bytes after the JSON header"),
        (head, {"Inference-Header-Content-Length": "x"}, "bad Inference-Header-Content-Length"),
        (head, {"Inference-Header-Content-Length": str(len(head) + 1)}, "the body has"),
    ]:
        r = httpx.post(url, content=content, headers=headers)
        assert r.status_code == 400 and needle in r.json()["error"], r.text
