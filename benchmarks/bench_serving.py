"""Serving benchmark: ``nbmlops`` side by side with ``mlflow models serve``.

Same model (RandomForest, 100 trees, 20 features), same moment, alternating runs:

* **deploy → ready**: ``nbmlops.deploy()`` until it returns (the service answers): the
  first deploy of a fresh Python process (a new kernel) with the warm host started
  ``--think`` seconds before (as registering a model in a notebook does) and cold
  (``NBMLOPS_PREWARM=0``), and later deploys (forked from the warm host), against
  ``mlflow models serve`` started until ``/ping`` answers; the phases nbmlops reports
  (start, load, ready) are printed too;
* **throughput**: one-row MLflow ``dataframe_split`` payloads from ``wrk`` (a C load
  generator, so the client is not the bottleneck) at 1, 4, 8 and 32 connections:
  req/s and p50/p99 latency for nbmlops on scikit-learn (micro-batched), nbmlops on
  onnxruntime, nbmlops with its default worker count, and MLflow (one worker).

Run: ``python benchmarks/bench_serving.py [--seconds 3] [--deploys 3]``
(needs mlflow: ``pip install 'nbmlops[bench]'``, and ``wrk``: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_FEATURES = 20
CLIENTS = (1, 4, 8, 32)


def free_port() -> int:
    """Return a free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(home: Path) -> tuple[str, bytes]:
    """Fit the forest, register it in nbmlops and log it to MLflow; return (MLflow URI, body)."""
    os.environ["NBMLOPS_HOME"] = str(home / ".nbmlops")
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import nbmlops

    x, y = make_classification(2000, N_FEATURES, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(N_FEATURES)])
    model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(frame, y)
    with nbmlops.start_run(name="forest") as run:
        run.log_dataset(frame, "train")
        run.log_model(model, input_example=frame.head())
    nbmlops.register_model("forest", run=run)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"  # for the server too
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(),
                                        skops_trusted_types=["sklearn.tree._tree.Tree"])
    row = frame.head(1)
    body = json.dumps({"dataframe_split": {"columns": list(row.columns),
                                           "data": row.values.tolist()}}).encode()
    return info.model_uri, body


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process writing to ``log``."""
    env = os.environ.copy()  # mlflow runs `uvicorn` from PATH: put this venv's bin/ first
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str, timeout: float = 300) -> None:
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
        time.sleep(0.02)
    raise RuntimeError("server not ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server's process group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def mlflow_cmd(uri: str, port: int) -> list[str]:
    """Return the ``mlflow models serve`` command line (one worker, this environment)."""
    return [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", uri, "-p",
            str(port), "--env-manager", "local", "--workers", "1"]


# --------------------------------------------------------------------------- deploy time
def first_deploy(home: Path, mode: str, think: float) -> tuple[float, dict[str, float]]:
    """Time the first ``deploy()`` of a fresh Python process (as a notebook kernel would).

    ``prewarm``: the warm host was started ``think`` seconds before, as registering a model
    in a notebook does; ``cold``: nothing started before the deploy (``NBMLOPS_PREWARM=0``).
    Both processes have used the store already (the model was just registered there).
    """
    env = {**os.environ, "NBMLOPS_HOME": str(home / ".nbmlops"),
           "NBMLOPS_PREWARM": "1" if mode == "prewarm" else "0"}
    out = subprocess.run([sys.executable, __file__, "--first-deploy-child", mode,
                          "--think", str(think)], env=env, capture_output=True, text=True,
                         check=True).stdout
    took, timings = json.loads(out.strip().splitlines()[-1])
    return float(took), timings


def first_deploy_child(mode: str, think: float) -> None:
    """Body of first_deploy's process: print ``[seconds, phases]`` of its first deploy."""
    import nbmlops
    from nbmlops.serving.deployments import prestart_warm_host

    nbmlops.get_model_version("forest/1")  # the kernel has used the store: registering did
    if mode == "prewarm":
        prestart_warm_host()  # what registering a model in a notebook does
    time.sleep(think)  # the user reads the registration's output and writes %deploy
    t = time.perf_counter()
    dep = nbmlops.deploy("forest/1")
    took = time.perf_counter() - t
    dep.stop()
    print(json.dumps([took, dep.timings]))


def deploy_times(uri: str, n: int, tmp: Path, think: float) -> dict[str, list[Any]]:
    """Time first deploys (prewarmed, cold), later deploys and mlflow, alternating."""
    import nbmlops

    out: dict[str, list[Any]] = {f"first, prewarmed {think:g}s before": [],
                                 "first, cold": [], "later (warm host)": [], "mlflow": []}
    for i in range(n):
        out[f"first, prewarmed {think:g}s before"].append(first_deploy(tmp, "prewarm", think))
        out["first, cold"].append(first_deploy(tmp, "cold", think))
        for _ in range(2 if i == 0 else 1):  # the first one starts this process's host
            t = time.perf_counter()
            dep = nbmlops.deploy("forest/1")
            took = time.perf_counter() - t
            dep.stop()
        out["later (warm host)"].append((took, dict(dep.timings)))
        port = free_port()
        t = time.perf_counter()
        proc = start(mlflow_cmd(uri, port), tmp / f"mlflow-{port}.log")
        try:
            wait_ready(port, proc, "/ping")
            out["mlflow"].append((time.perf_counter() - t, {}))
        finally:
            stop(proc)
    return out


# --------------------------------------------------------------------------- throughput
WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
"""


def wrk(port: int, clients: int, seconds: float, body: bytes, script: Path) -> dict[str, float]:
    """Return req/s, p50 and p99 (ms) from ``wrk`` with ``clients`` connections."""
    env = {**os.environ, "BENCH_BODY": body.decode()}
    out = subprocess.run(["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d",
                          f"{max(1, round(seconds))}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}/invocations"],
                         capture_output=True, text=True, env=env, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad.group(1)} failed requests:\n{out}")

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        assert m, out
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    return {"rps": float(rps.group(1)), "p50": ms("50%"), "p99": ms("99%")}


def throughput(uri: str, body: bytes, seconds: float, tmp: Path) -> dict[str, dict[int, Any]]:
    """Measure every server at every client count (servers started one after another)."""
    script = tmp / "post.lua"
    script.write_text(WRK_LUA)
    nb = [sys.executable, "-m", "nbmlops", "serve", "forest/1", "--no-log-predictions"]
    servers = {
        "nbmlops sklearn, 1 worker": (nb + ["--runtime", "sklearn", "--workers", "1"],
                                      "/v2/health/ready"),
        "nbmlops sklearn, default workers": (nb + ["--runtime", "sklearn"],
                                             "/v2/health/ready"),
        "nbmlops onnx, 1 worker": (nb + ["--runtime", "onnx", "--workers", "1"],
                                   "/v2/health/ready"),
        "nbmlops onnx, default workers": (nb + ["--runtime", "onnx"], "/v2/health/ready"),
        "mlflow models serve, 1 worker": (None, "/ping"),
    }
    results: dict[str, dict[int, Any]] = {}
    for label, (cmd, ready) in servers.items():
        port = free_port()
        full = mlflow_cmd(uri, port) if cmd is None else [*cmd, "--port", str(port)]
        proc = start(full, tmp / f"serve-{port}.log")
        try:
            wait_ready(port, proc, ready)
            wrk(port, 4, 1, body, script)  # warm-up
            results[label] = {c: wrk(port, c, seconds, body, script) for c in CLIENTS}
        finally:
            stop(proc)
        print(f"  measured {label}", file=sys.stderr)
    return results


def failed_deploy_times(n: int) -> list[float]:
    """Time ``deploy()`` of a model the server refuses to load until DeployError is raised.

    The model holds a type outside the trust policy (trusted when it was logged, not at
    serving): the server exits with its one-line error, and deploy() must report it at
    once rather than wait for the readiness timeout (120 s). nbmlops only: this measures
    how a failure is reported, not a speed to compare.
    """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import nbmlops
    from nbmlops.errors import DeployError

    class Custom(LogisticRegression):  # a user's own class: not trusted by default
        pass

    Custom.__module__, Custom.__qualname__ = "bench_custom", "Custom"
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    with nbmlops.start_run(name="custom") as run:
        run.log_model(Custom().fit(frame, [0, 0, 1, 1]), trusted=["bench_custom.Custom"])
    nbmlops.register_model("custom", run=run)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        try:
            nbmlops.deploy("custom/1").stop()
        except DeployError:
            times.append(time.perf_counter() - t)
        else:
            raise SystemExit("the untrusted model was served: the benchmark is broken")
    return times


def report_deploy(times: dict[str, list[Any]]) -> None:
    """Print deploy → ready per side, with nbmlops's phases and the ratio to MLflow."""
    base = statistics.median(t for t, _ in times["mlflow"])
    print("\ndeploy -> ready (RandomForest 100 trees; median of the runs, seconds; "
          f"load average {os.getloadavg()[0]:.1f})\n")
    for label, runs in times.items():
        med = statistics.median(t for t, _ in runs)
        phases = runs[-1][1]
        split = ", ".join(f"{k} {phases[k]:.2f}" for k in ("start", "load", "ready")
                          if k in phases)
        print(f"{label:28} {med:7.2f} s  ({len(runs)} runs, x{base / med:5.1f} vs mlflow)"
              + (f"   last: {split}" if split else ""))


def report_throughput(results: dict[str, dict[int, Any]]) -> None:
    """Print req/s and p50/p99 per server and client count, with ratios to MLflow."""
    base = results["mlflow models serve, 1 worker"]
    print("\nthroughput, one-row dataframe_split, wrk (req/s; p50/p99 ms; x mlflow req/s; "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print(f"{'server':32}" + "".join(f"{f'{c} clients':>28}" for c in CLIENTS))
    for label, by in results.items():
        cells = "".join(f"{by[c]['rps']:9.0f} {by[c]['p50']:6.1f}/{by[c]['p99']:<6.1f} "
                        f"x{by[c]['rps'] / base[c]['rps']:<5.1f}" for c in CLIENTS)
        print(f"{label:32}{cells}")


def main() -> None:
    """Run both parts and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per wrk measurement")
    parser.add_argument("--deploys", type=int, default=3, help="warm deploys (and mlflow starts)")
    parser.add_argument("--skip-deploy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--think", type=float, default=5.0,
                        help="seconds between registering and the first deploy (prewarmed)")
    parser.add_argument("--first-deploy-child", choices=["prewarm", "cold"],
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_deploy_child:
        first_deploy_child(args.first_deploy_child, args.think)
        return
    if not args.skip_throughput and shutil.which("wrk") is None:
        sys.exit("wrk is needed for the throughput part: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        uri, body = train(tmp)
        if not args.skip_deploy:
            report_deploy(deploy_times(uri, args.deploys, tmp, args.think))
            failed = failed_deploy_times(args.deploys)
            print(f"\ndeploy of a model the server refuses to load -> one-line DeployError: "
                  f"median {statistics.median(failed):.2f} s, max {max(failed):.2f} s "
                  f"({len(failed)} runs; the readiness timeout it must not wait for: 120 s)")
        if not args.skip_throughput:
            report_throughput(throughput(uri, body, args.seconds, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
