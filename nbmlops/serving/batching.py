"""Micro-batching: concurrent single-row requests share one model call.

One batch is in flight at a time. Requests that arrive while it runs queue up and
form the next batch, so the batch size follows the load: an idle server predicts
each request at once (no timer, no added latency), a busy one predicts everything
that queued in one call.

Two measured costs shape it (see ``benchmarks/bench_serving.py``):

* a slow model (a 100-tree forest in scikit-learn: ~20 ms per call whether it
  predicts 1 row or 32) runs in a helper thread, so the event loop keeps reading and
  validating the requests that will make up the next batch; a fast one (onnxruntime,
  ~0.1 ms) runs inline, where a thread hand-off would cost more than the call;
* with a slow model, once a recent batch held several requests (concurrent clients),
  the next batch waits a tenth of a model call (at most ``max_wait``) for the clients
  whose answers just went out to send their next request. Without it the clients
  split into groups that alternate (3 + 1 at 4 clients), halving the batch size.
  A single client never waits.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from nbmlops.serving.runtime import Outputs

if TYPE_CHECKING:
    from nbmlops.serving.metrics import ServingMetrics
    from nbmlops.serving.service import LoadedModel
    from nbmlops.serving.validation import Batch

_Pending = tuple["LoadedModel", "Batch", bool, "asyncio.Future[Outputs]"]

#: a model call slower than this (seconds, moving average) runs in the helper thread
OFFLOAD_AFTER = 0.001


class MicroBatcher:
    """Groups single-row predictions that arrive while the model is busy."""

    def __init__(self, metrics: ServingMetrics | None = None, max_rows: int = 64,
                 max_wait: float = 0.002) -> None:
        self.metrics = metrics
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._pending: list[_Pending] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._cost: dict[int, float] = {}  # id(runtime) -> moving average of one call (s)
        self._peak = 1.0  # the largest recent batch (decays): how many clients come back
        self._waiter: asyncio.Future[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def predict(self, model: LoadedModel, batch: Batch, proba: bool) -> Outputs:
        """Return the outputs for ``batch``, possibly computed together with other requests."""
        if batch.n_rows != 1:
            return await self._call(model, batch.arrays, proba)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outputs] = loop.create_future()
        self._pending.append((model, batch, proba, fut))
        if self._waiter is not None and len(self._pending) >= self.max_rows:
            _wake(self._waiter)
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        return await fut

    def _slow(self, model: LoadedModel) -> bool:
        return self._cost.get(id(model.runtime), 0.0) > OFFLOAD_AFTER

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # requests parsed in this loop iteration join the batch
            while self._pending:
                model = self._pending[0][0]
                if self._slow(model) and self._peak > 1.5 and len(self._pending) < self.max_rows:
                    await self._gather(min(self.max_wait, self._cost[id(model.runtime)] / 10))
                take, self._pending = (self._pending[:self.max_rows],
                                       self._pending[self.max_rows:])
                self._peak = max(float(len(take)), 0.95 * self._peak)
                groups: dict[tuple[int, bool], list[_Pending]] = {}
                for item in take:  # a hot swap may leave two versions in one batch
                    groups.setdefault((id(item[0]), item[2]), []).append(item)
                for items in groups.values():
                    await self._run(items)
        finally:
            self._draining = False

    async def _gather(self, window: float) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        handle = loop.call_later(window, _wake, self._waiter)
        try:
            await self._waiter
        finally:
            handle.cancel()
            self._waiter = None

    async def _call(self, model: LoadedModel, arrays: dict[str, np.ndarray],
                    proba: bool) -> Outputs:
        """Run one model call, in the helper thread when the model is slow; time it."""
        rt = model.runtime
        if self._slow(model):
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="nbmlops-predict")
            loop = asyncio.get_running_loop()
            out: Outputs = await loop.run_in_executor(self._executor, _timed, rt, arrays, proba,
                                                      self._cost)
            return out
        return _timed(rt, arrays, proba, self._cost)

    async def _run(self, items: list[_Pending]) -> None:
        model, _, proba, _ = items[0]
        if self.metrics is not None:
            self.metrics.batch_rows.observe(len(items))
        if len(items) == 1:
            await _settle(items[0][3], self._call(model, items[0][1].arrays, proba))
            return
        names = list(items[0][1].arrays)
        arrays = {c: np.concatenate([it[1].arrays[c] for it in items]) for c in names}
        try:
            out = await self._call(model, arrays, proba)
        except Exception:  # one bad row must not fail its neighbours: predict them alone
            for m, b, p, fut in items:
                await _settle(fut, self._call(m, b.arrays, p))
            return
        for i, (_, _, _, fut) in enumerate(items):
            if not fut.done():
                probs = out.probabilities[i:i + 1] if out.probabilities is not None else None
                fut.set_result(Outputs(out.predictions[i:i + 1], probs))


def _timed(rt: Any, arrays: dict[str, np.ndarray], proba: bool,
           cost: dict[int, float]) -> Outputs:
    t = time.perf_counter()
    out: Outputs = rt.predict(arrays, proba=proba)
    took = time.perf_counter() - t
    key = id(rt)
    cost[key] = took if key not in cost else 0.8 * cost[key] + 0.2 * took
    return out


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _settle(fut: asyncio.Future[Outputs], call: Any) -> None:
    try:
        result = await call
    except Exception as exc:  # delivered to the awaiting request, which answers 500
        if not fut.done():
            fut.set_exception(exc)
        return
    if not fut.done():
        fut.set_result(result)
