"""``%deploy REF --dry-run``: serve from the registry artifact alone and compare with the kernel.

A fresh server process loads the version from the store (nothing from the
notebook's memory), answers the input example and a reference sample, and its
answers are compared with the in-kernel model's. A mismatch — a dependency that
differs, a preprocessing step that is not part of the registered pipeline — shows
here, before anything goes live. Single-row requests then measure the latency split.
"""

from __future__ import annotations

import html
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbmlops.errors import DeployError
from nbmlops.serving.deployments import (
    HOSTNAME,
    http_client,
    spawn_server,
    stop_process,
    url_for,
    wait_ready,
)
from nbmlops.serving.server import free_port

LATENCY_REQUESTS = 50


@dataclass(repr=False)
class DryRunReport:
    """Outcome of a dry run: agreement with the kernel and the server-side latency split."""

    ref: str
    version: int
    runtime: str
    rows_checked: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Return whether the served predictions equal the in-kernel model's on every row."""
        return not self.mismatches

    def __str__(self) -> str:
        head = (f"dry run of {self.ref} (version {self.version}, runtime {self.runtime}): "
                + (f"OK, predictions equal on {self.rows_checked} rows" if self.ok else
                   f"MISMATCH on {len(self.mismatches)} of {self.rows_checked} rows"))
        lines = [head]
        for m in self.mismatches[:5]:
            lines.append(f"  row {m['row']}: kernel {m['kernel']!r} vs served {m['served']!r}")
        if self.latency_ms:
            lines.append("  median latency (ms): " + ", ".join(
                f"{k} {v:.3f}" for k, v in self.latency_ms.items()))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


def _kernel_predict(model: Any, cols: dict[str, list[Any]]) -> np.ndarray:
    import pandas as pd

    frame = pd.DataFrame(cols)
    if not hasattr(model, "feature_names_in_"):
        return np.asarray(model.predict(frame.to_numpy()))
    return np.asarray(model.predict(frame))


def _compare(kernel: np.ndarray, served: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, (k, s) in enumerate(zip(kernel.tolist(), served, strict=True)):
        same = (np.isclose(float(k), float(s), rtol=1e-6, atol=1e-9)
                if isinstance(k, float) or isinstance(s, float) else k == s)
        if not same:
            out.append({"row": i, "kernel": k, "served": s})
    return out


def _latency(client: Any, url: str, row: dict[str, list[Any]]) -> dict[str, float]:
    cols = list(row)
    body = {"dataframe_split": {"columns": cols, "data": [[row[c][0] for c in cols]]}}
    parts: dict[str, list[float]] = {"parse": [], "predict": [], "serialize": [], "total": []}
    for _ in range(LATENCY_REQUESTS):
        t0 = time.perf_counter()
        r = client.post(f"{url}/invocations", json=body)
        parts["total"].append((time.perf_counter() - t0) * 1e3)
        for item in r.headers.get("server-timing", "").split(","):
            key, _, dur = item.strip().partition(";dur=")
            if key in parts:
                parts[key].append(float(dur))
    return {k: statistics.median(v) for k, v in parts.items() if v}


def dry_run(ref: str, model: Any = None, data: Any = None, *, runtime: str = "auto",
            timeout: float = 120.0) -> DryRunReport:
    """Serve ``ref`` in a fresh process, compare with ``model`` (default: loaded here).

    ``data`` (a DataFrame) replaces the reference sample drawn from the training
    statistics. Nothing is recorded as a deployment and no predictions are logged.
    """
    from nbmlops.config import resolve_settings
    from nbmlops.registry.versions import get_model_version, load_model
    from nbmlops.serving.reference import dataset_stats, example_columns, reference_columns
    from nbmlops.serving.validation import InputSchema

    mv = get_model_version(ref)
    model = model if model is not None else load_model(mv.ref)
    schema = InputSchema.from_signature(mv.signature, example=mv.input_example)
    samples = [c for c in (example_columns(schema),
                           _frame_columns(data) if data is not None
                           else reference_columns(schema, dataset_stats(mv.run_id))) if c]
    if not samples:
        raise DeployError(f"{mv.ref} has no input example and no reference data; pass data=…")
    port = free_port()
    log_path = resolve_settings().home / "deployments" / f"dryrun-{uuid.uuid4().hex[:8]}.log"
    proc = spawn_server(mv.ref, host="127.0.0.1", port=port, workers=1, runtime=runtime,
                        token=None, log_path=log_path, extra=["--no-log-predictions"])
    url = url_for("127.0.0.1", port)
    try:
        wait_ready(proc, url, log_path, timeout)
        with http_client(60.0) as client:
            served_rt = client.get(f"{url}/version").json()["runtime"]
            report = DryRunReport(mv.ref, mv.version, served_rt, 0)
            for cols in samples:
                names = list(cols)
                rows = [list(r) for r in zip(*(cols[c] for c in names), strict=True)]
                r = client.post(f"{url}/invocations",
                                json={"dataframe_split": {"columns": names, "data": rows}})
                if r.status_code != 200:
                    raise DeployError(f"the server refused the sample: {r.json().get('error')}")
                found = _compare(_kernel_predict(model, cols), r.json()["predictions"])
                for m in found:
                    m["row"] += report.rows_checked
                report.mismatches.extend(found)
                report.rows_checked += len(rows)
            report.latency_ms = _latency(client, url, samples[0])
    finally:
        stop_process(proc.pid, HOSTNAME)
    return report


def _frame_columns(data: Any) -> dict[str, list[Any]]:
    if hasattr(data, "to_dict"):
        return {str(k): v for k, v in data.to_dict(orient="list").items()}
    raise DeployError("data must be a pandas DataFrame with the model's columns")
