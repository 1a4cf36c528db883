"""Serving benchmark: ``nbmlops serve`` side by side with ``mlflow models serve``.

Same scikit-learn models (a RandomForest and a LogisticRegression pipeline), same
payload (MLflow ``dataframe_split``, one row), same client, one worker each:

* single-row latency p50/p99, sequential requests on one keep-alive connection;
* throughput with 8 concurrent clients (8 keep-alive connections).

The client is a minimal asyncio HTTP/1.1 client so that client CPU (on the same
machine) distorts the figures as little as possible. nbmlops runs in several
modes to show what each optimisation buys: onnxruntime vs scikit-learn, and
micro-batching on/off.

Run: ``python benchmarks/bench_serving.py [--seconds 4] [--requests 400]``
(needs mlflow: ``pip install 'nbmlops[bench]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_FEATURES = 10
CONCURRENCY = 8


def free_port() -> int:
    """Return a free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(home: Path) -> tuple[dict[str, Any], Any]:
    """Fit both models, register them in nbmlops and log them to MLflow; return refs."""
    os.environ["NBMLOPS_HOME"] = str(home / ".nbmlops")
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import nbmlops

    x, y = make_classification(2000, N_FEATURES, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(N_FEATURES)])
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0),
    }
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"  # for the server too
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    out = {}
    for name, model in models.items():
        model.fit(frame, y)
        with nbmlops.start_run(name=name) as run:
            run.log_dataset(frame, "train")
            run.log_model(model, input_example=frame.head())
        nbmlops.register_model(name, run=run)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(),
                                            skops_trusted_types=["sklearn.tree._tree.Tree"])
        out[name] = info.model_uri
    return out, frame


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process writing to ``log``."""
    env = os.environ.copy()  # mlflow runs `uvicorn` from PATH: put this venv's bin/ first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str, timeout: float = 180) -> None:
    """Wait until GET ``path`` answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(proc.args)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server's process group."""
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Conn:
    """One keep-alive HTTP/1.1 connection that POSTs a fixed body."""

    def __init__(self, port: int, body: bytes) -> None:
        self.port = port
        self.request = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode() + body

    async def open(self) -> None:
        """Connect (TCP_NODELAY)."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                        socket.TCP_NODELAY, 1)

    async def post(self) -> int:
        """Send the request; return the status after reading the whole response."""
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


async def latency(port: int, body: bytes, n: int) -> tuple[float, float]:
    """Return (p50, p99) in ms of ``n`` sequential single-row requests."""
    conn = Conn(port, body)
    await conn.open()
    for _ in range(50):  # warm-up
        await conn.post()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        assert await conn.post() == 200
        times.append((time.perf_counter() - t) * 1e3)
    conn.close()
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[98]


async def throughput(port: int, body: bytes, seconds: float) -> float:
    """Return requests/second with CONCURRENCY clients for ``seconds``."""
    conns = [Conn(port, body) for _ in range(CONCURRENCY)]
    for c in conns:
        await c.open()
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop(c: Conn) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            assert await c.post() == 200
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return done / elapsed


def measure(cmd: list[str], port: int, ready: str, body: bytes, args: Any,
            log: Path) -> dict[str, float]:
    """Start a server, measure it, stop it."""
    proc = start(cmd, log)
    try:
        try:
            wait_ready(port, proc, ready)
        except RuntimeError:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        p50, p99 = asyncio.run(latency(port, body, args.requests))
        rps = asyncio.run(throughput(port, body, args.seconds))
        server = server_latency(port) if ready == "/v2/health/ready" else {}
    finally:
        stop(proc)
    if server:  # the server's own histogram must have seen every request we timed
        assert server["count"] >= args.requests, server
    return {"p50": p50, "p99": p99, "rps": rps, **server}


def server_latency(port: int) -> dict[str, float]:
    """Return the request count and mean latency (ms) from an nbmlops server's /metrics."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = {}
    for part in ("count", "sum"):
        m = re.search(rf'nbmlops_request_latency_seconds_{part}{{endpoint="/invocations"}} (\S+)',
                      text)
        found[part] = float(m.group(1)) if m else 0.0
    count = found["count"]
    return {"count": count, "server_mean_ms": 1000 * found["sum"] / count if count else 0.0}


def main() -> None:
    """Run the benchmark and print a table with ratios against MLflow."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        uris, frame = train(tmp)
        row = frame.head(1)
        body = json.dumps({"dataframe_split": {"columns": list(row.columns),
                                               "data": row.values.tolist()}}).encode()
        nb = [sys.executable, "-m", "nbmlops", "serve"]
        modes = {
            "nbmlops default (onnx+batch)": ["--runtime", "auto"],
            "nbmlops onnx, no batching": ["--runtime", "onnx", "--batching", "off"],
            "nbmlops sklearn": ["--runtime", "sklearn", "--batching", "off"],
            "nbmlops sklearn +batching": ["--runtime", "sklearn", "--batching", "on"],
        }
        results: dict[str, dict[str, dict[str, float]]] = {}
        for model, uri in uris.items():
            results[model] = {}
            for label, extra in modes.items():
                port = free_port()
                results[model][label] = measure(
                    [*nb, f"{model}/1", "--port", str(port), "--no-log-predictions", *extra],
                    port, "/v2/health/ready", body, args, tmp / f"{model}-{port}.log")
            port = free_port()
            mlflow_bin = str(Path(sys.executable).parent / "mlflow")
            results[model]["mlflow models serve"] = measure(
                [mlflow_bin, "models", "serve", "-m", uri, "-p", str(port), "--env-manager",
                 "local", "--workers", "1"], port, "/ping", body, args, tmp / "mlflow.log")
        report(results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(results: dict[str, dict[str, dict[str, float]]]) -> None:
    """Print latency/throughput per server with ratios against MLflow."""
    print(f"\nsingle-row latency (sequential) and throughput ({CONCURRENCY} concurrent clients), "
          "one worker each\n")
    head = f"{'model':8} {'server':28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} " \
           f"{'x mlflow req/s':>15} {'mlflow p50 / p50':>17}"
    print(head)
    print("-" * len(head))
    for model, rows in results.items():
        base = rows["mlflow models serve"]
        for label, r in rows.items():
            server = (f"   server-side mean {r['server_mean_ms']:.3f} ms over "
                      f"{r['count']:.0f} requests" if "count" in r else "")
            print(f"{model:8} {label:28} {r['p50']:8.3f} {r['p99']:8.3f} {r['rps']:9.0f} "
                  f"{r['rps'] / base['rps']:15.1f} {base['p50'] / r['p50']:17.1f}{server}")
        print()


if __name__ == "__main__":
    main()
