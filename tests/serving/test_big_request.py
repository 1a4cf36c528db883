"""A real server process keeps answering /health while one big request is parsed and predicted."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import free_port, register, start_serve, stop, wait_http


def test_health_answers_while_a_big_request_runs(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    from nbmlops import store

    home = tmp_path / ".nbmlops"
    monkeypatch.setenv("NBMLOPS_HOME", str(home))
    store.reset()
    register("churn", LogisticRegression(max_iter=500))
    store.reset()
    port = free_port()
    proc = start_serve(["churn@production", "--port", str(port), "--no-log-predictions",
                        "--max-rows", "1000000"], home)
    url = f"http://127.0.0.1:{port}"
    n = 400_000
    row = b"[30, 50000.0, 3, 0.5],"
    sent, marks = threading.Event(), {}

    def chunks() -> Any:  # the body in 1 MB chunks; "sent" once the last one went out
        yield b'{"instances": ['
        for _ in range(n // 50_000):
            yield row * 50_000
        yield b"[30, 50000.0, 3, 0.5]]}"
        sent.set()

    def big() -> None:
        with httpx.stream("POST", f"{url}/invocations", content=chunks(), timeout=300,
                          headers={"content-type": "application/json"}) as r:
            marks["answered_at"] = time.perf_counter()  # the server computed everything
            marks["status"] = r.status_code
            marks["rows"] = len(json.loads(r.read()).get("predictions", []))

    try:
        wait_http(f"{url}/health", proc)
        sender = threading.Thread(target=big)
        sender.start()
        sent.wait(120)
        done: list[tuple[float, float]] = []  # (asked at, answered at) after the body was sent
        with httpx.Client(timeout=120) as client:
            while "answered_at" not in marks and sender.is_alive():
                t0 = time.perf_counter()
                assert client.get(f"{url}/health").status_code == 200
                done.append((t0, time.perf_counter()))
        sender.join()
    finally:
        stop(proc)
    assert (marks["status"], marks["rows"]) == (200, n + 1)
    during = [(a, b) for a, b in done if b < marks["answered_at"]]
    # before the fix the event loop parsed, validated and predicted the body: no /health
    # answer came between the end of the upload and the prediction's answer
    assert len(during) >= 3, (len(during), len(done))
    waits = [b - a for a, b in done]
    print(f"/health answered {len(during)} times while the big request was computed; "
          f"longest wait {max(waits) * 1e3:.0f} ms")
