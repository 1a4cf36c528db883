"""Micro-batching: concurrent single-row requests share one model call.

No timer and no added latency: the first request of a loop iteration schedules a
flush with ``call_soon``; every request parsed in the same iteration joins it.
Under load, requests that arrived while the model was busy are therefore
predicted together; an idle server predicts each request at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np

from nbmlops.serving.runtime import Outputs

if TYPE_CHECKING:
    from nbmlops.serving.metrics import ServingMetrics
    from nbmlops.serving.service import LoadedModel
    from nbmlops.serving.validation import Batch

_Pending = tuple["LoadedModel", "Batch", bool, "asyncio.Future[Outputs]"]


class MicroBatcher:
    """Groups single-row predictions made in the same event-loop iteration."""

    def __init__(self, metrics: ServingMetrics | None = None, max_rows: int = 64) -> None:
        self.metrics = metrics
        self.max_rows = max_rows
        self._pending: list[_Pending] = []
        self._scheduled = False

    async def predict(self, model: LoadedModel, batch: Batch, proba: bool) -> Outputs:
        """Return the outputs for ``batch``, possibly computed together with other requests."""
        if batch.n_rows != 1:
            return model.runtime.predict(batch.arrays, proba=proba)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outputs] = loop.create_future()
        self._pending.append((model, batch, proba, fut))
        if len(self._pending) >= self.max_rows:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        groups: dict[tuple[int, bool], list[_Pending]] = {}
        for item in pending:  # a hot swap may leave two versions in one flush
            groups.setdefault((id(item[0]), item[2]), []).append(item)
        for items in groups.values():
            self._run(items)

    def _run(self, items: list[_Pending]) -> None:
        model, _, proba, _ = items[0]
        if self.metrics is not None:
            self.metrics.batch_rows.observe(len(items))
        if len(items) == 1:
            _settle(items[0][3], lambda: model.runtime.predict(items[0][1].arrays, proba=proba))
            return
        names = list(items[0][1].arrays)
        arrays = {c: np.concatenate([it[1].arrays[c] for it in items]) for c in names}
        try:
            out = model.runtime.predict(arrays, proba=proba)
        except Exception:  # one bad row must not fail its neighbours: predict them alone
            for m, b, p, fut in items:
                _settle(fut, lambda m=m, b=b, p=p: m.runtime.predict(b.arrays, proba=p))
            return
        for i, (_, _, _, fut) in enumerate(items):
            if not fut.done():
                probs = out.probabilities[i:i + 1] if out.probabilities is not None else None
                fut.set_result(Outputs(out.predictions[i:i + 1], probs))


def _settle(fut: asyncio.Future[Outputs], call: object) -> None:
    if fut.done():
        return
    try:
        fut.set_result(call())  # type: ignore[operator]
    except Exception as exc:  # delivered to the awaiting request, which answers 500
        fut.set_exception(exc)
