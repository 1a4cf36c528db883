"""Real server processes over HTTP: protocols, bad input, hot swap, deployments, auth."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.serving.conftest import COLUMNS, free_port, register, start_serve, stop, wait_http


def test_mlflow_and_v2_over_http(live: dict[str, Any]) -> None:
    url, frame = live["url"], live["frame"]
    r = httpx.post(f"{url}/invocations",
                   json={"dataframe_split": frame.head(4).to_dict(orient="split", index=False)})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 4
    body = {"inputs": [{"name": "x", "shape": [4, 4], "datatype": "FP64",
                        "data": frame.head(4).values.tolist()}]}
    v2 = httpx.post(f"{url}/v2/models/churn/infer", json=body).json()
    assert v2["outputs"][0]["data"] == r.json()["predictions"]
    assert httpx.get(f"{url}/version").json()["version"] == 1


def test_bad_input_never_takes_the_server_down(live: dict[str, Any]) -> None:
    url = live["url"]
    cases = [
        (b"{not json", "application/json", 400, "malformed JSON"),
        (b'{"instances": [[1, 2, 3, 4]]}', "text/plain", 415, "content type"),
        (b'{"dataframe_records": [{"age": 1, "income": 2.0, "visits": 3}]}',
         "application/json", 400, "missing column(s) 'score'"),
        (b'{"dataframe_records": [{"age": 1, "income": 2.0, "visits": 3, "score": 1, "x": 1}]}',
         "application/json", 400, "unknown column(s) 'x'"),
        (b'{"instances": [["old", 2.0, 3, 0.1]]}', "application/json", 400, "column 'age'"),
        (b'{"instances": [[1, NaN, 3, 0.1]]}', "application/json", 400, "NaN"),
        (b'{"instances": []}', "application/json", 400, "no rows"),
    ]
    for content, ctype, status, needle in cases:
        r = httpx.post(f"{url}/invocations", content=content, headers={"content-type": ctype})
        assert r.status_code == status, (content, r.text)
        assert needle in r.json()["error"]
    assert httpx.get(f"{url}/health").status_code == 200


def test_a_100_mb_body_is_refused_before_it_is_read(live: dict[str, Any]) -> None:
    url = live["url"]  # the live server's limit is 1 MiB
    huge = b"[" + b"1," * (50 * 1024 * 1024) + b"1]"
    try:
        r = httpx.post(f"{url}/invocations", content=huge,
                       headers={"content-type": "application/json"}, timeout=30)
        assert r.status_code == 413 and "limit of 1048576 bytes" in r.json()["error"]
    except httpx.TransportError:
        pass  # the server may close the socket before the client finished sending
    assert httpx.get(f"{url}/health").status_code == 200
    # streamed (chunked) bodies are counted too
    r = httpx.post(f"{url}/invocations", content=iter([b" " * 65536] * 32),
                   headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 413


def test_port_in_use_is_a_clear_error(live: dict[str, Any], churn: str) -> None:
    import nbmlops
    from nbmlops.errors import DeployError

    with pytest.raises(DeployError, match=f"port {live['port']} on 127.0.0.1 is already in use"):
        nbmlops.deploy("churn@production", port=live["port"])


def test_missing_model_or_alias_fails_before_starting(churn: str) -> None:
    import nbmlops
    from nbmlops.errors import ModelNotFound

    with pytest.raises(ModelNotFound, match="churn has aliases production"):
        nbmlops.deploy("churn@staging")
    with pytest.raises(ModelNotFound):
        nbmlops.deploy("nosuchmodel/1")
    from nbmlops.serving.deployments import list_deployments

    assert list_deployments(include_stopped=True) == []


def test_non_loopback_requires_a_token(churn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbmlops
    from nbmlops.errors import DeployError

    monkeypatch.delenv("NBMLOPS_SERVE_TOKEN", raising=False)
    with pytest.raises(DeployError, match="bearer token is required"):
        nbmlops.deploy("churn@production", host="0.0.0.0")


def test_deploy_with_token_then_dead_process_status(churn: str) -> None:
    import nbmlops
    from nbmlops.serving.deployments import list_deployments

    dep = nbmlops.deploy("churn@production", token="tok-123")
    try:
        body = {"instances": [[30, 1.0, 3, 0.5]]}
        assert httpx.post(f"{dep.url}/invocations", json=body).status_code == 401
        bad = httpx.post(f"{dep.url}/invocations", json=body,
                         headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "wrong bearer token" in bad.json()["error"]
        assert dep.predict([dict(zip(COLUMNS, [30, 1.0, 3, 0.5], strict=True))]) in ([0], [1])
        assert dep.status == "running" and dep.version == 1
        (listed,) = list_deployments()
        assert listed.name == dep.name and listed.pid == dep.pid
        os.killpg(dep.pid, signal.SIGKILL)
        wait_until(lambda: dep.status == "dead", "the killed server to show as dead", timeout=10)
        assert list_deployments() == []
        (row,) = list_deployments(include_stopped=True)
        assert row.status == "dead"
    finally:
        dep.stop()


def test_hot_swap_under_load_drops_nothing(churn: str) -> None:
    from sklearn.ensemble import RandomForestClassifier

    import nbmlops
    from nbmlops.registry.aliases import set_alias

    v2 = register("churn", RandomForestClassifier(n_estimators=20, random_state=0), alias=None)
    dep = nbmlops.deploy("churn@production")
    results: list[tuple[int, str]] = []
    done = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=30) as c:
            while not done.is_set():
                r = c.post(f"{dep.url}/invocations", json={"instances": [[30, 1.0, 3, 0.5]]})
                results.append((r.status_code, r.headers.get("x-model-version", "")))

    threads = [threading.Thread(target=client) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: len(results) >= 6, "requests answered by version 1")
        set_alias("churn", "production", v2)
        wait_until(lambda: sum(v == "2" for _, v in results) >= 6,
                   "requests answered by version 2 after the alias moved", timeout=30)
    finally:
        done.set()
        for t in threads:
            t.join()
    try:
        versions = [v for _, v in results]
        assert all(s == 200 for s, _ in results), {s for s, _ in results}
        assert "1" in versions and "2" in versions
        assert versions.index("2") > versions.index("1")
        assert dep.version == 2
        # rollback moves production back; the server follows
        from nbmlops.serving.deployments import rollback

        mv = rollback(dep.name)
        assert mv.version == 1
        wait_until(lambda: dep.version == 1, "the server to follow the rollback", timeout=30)
    finally:
        dep.stop()
    assert dep.status == "stopped"


def test_cli_serve_keeps_serving_when_the_store_breaks(churn: str, nbmlops_home: Path) -> None:
    port = free_port()
    proc = start_serve(["churn@production", "--port", str(port)], nbmlops_home)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc)
        body = {"instances": [[30, 1.0, 3, 0.5]]}
        assert httpx.post(f"{url}/invocations", json=body).status_code == 200
        for suffix in ("", "-wal", "-shm"):  # corrupt the database (and its WAL) in place
            path = nbmlops_home / f"nbmlops.db{suffix}"
            if path.exists():
                with open(path, "r+b") as f:
                    f.write(b"this is not a sqlite database" * 1000)
        for _ in range(5):
            assert httpx.post(f"{url}/invocations", json=body).status_code == 200
        down = "nbmlops_prediction_log_store_up 0.0"
        wait_until(lambda: down in httpx.get(f"{url}/metrics").text,
                   "the metrics to report the store down", timeout=15, interval=0.2)
        assert httpx.post(f"{url}/invocations", json=body).status_code == 200
    finally:
        out = stop(proc)
    assert "cannot write prediction logs to the store (still serving" in out


def test_cli_deployments_list_and_stop(churn: str) -> None:
    from click.testing import CliRunner

    import nbmlops
    from nbmlops.cli import cli

    dep = nbmlops.deploy("churn@production", name="churn-cli")
    try:
        out = CliRunner().invoke(cli, ["deployments", "list"])
        assert out.exit_code == 0 and "churn-cli" in out.output and "running" in out.output
        out = CliRunner().invoke(cli, ["deployments", "stop", str(dep.port)])
        assert out.exit_code == 0 and "stopped churn-cli" in out.output
        assert dep.status == "stopped"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{dep.url}/health")
        out = CliRunner().invoke(cli, ["deployments", "list"])
        assert "no deployments running" in out.output
    finally:
        dep.stop()


def test_two_workers_serve_and_stop_together(churn: str) -> None:
    import nbmlops
    from nbmlops.serving.deployments import pid_alive

    dep = nbmlops.deploy("churn@production", workers=2)
    try:
        for _ in range(10):
            r = httpx.post(f"{dep.url}/invocations", json={"instances": [[30, 1.0, 3, 0.5]]})
            assert r.status_code == 200
    finally:
        dep.stop()
    assert not pid_alive(dep.pid)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dep.url}/health")
