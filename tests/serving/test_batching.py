"""MicroBatcher: every concurrent request gets the answer for its own row, whatever the batching."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from nbmlops.serving.batching import MicroBatcher
from nbmlops.serving.runtime import Outputs
from nbmlops.serving.validation import Batch


class EchoRuntime:
    """Predicts ``x * factor`` per row; records the size of every call and its thread."""

    name = "echo"
    classes = None

    def __init__(self, factor: float, delay: float = 0.0, fail_on: float | None = None) -> None:
        self.factor, self.delay, self.fail_on = factor, delay, fail_on
        self.calls: list[int] = []
        self.threads: set[str] = set()

    def predict(self, arrays: dict[str, np.ndarray], *, proba: bool = False) -> Outputs:
        x = arrays["x"]
        self.calls.append(len(x))
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and self.fail_on in x:
            raise ValueError(f"cannot predict {self.fail_on}")
        if self.delay:
            time.sleep(self.delay)
        probs = np.column_stack([x, -x]) if proba else None
        return Outputs(x * self.factor, probs)


def model(rt: EchoRuntime) -> Any:
    return SimpleNamespace(runtime=rt)


def row(v: float, n: int = 1) -> Batch:
    arr = np.full(n, v, dtype=float)
    return Batch({"x": arr.tolist()}, {"x": arr}, n)


async def _ask(b: MicroBatcher, m: Any, v: float, proba: bool = False) -> Any:
    try:
        return await b.predict(m, row(v), proba)
    except ValueError as exc:
        return exc


def test_concurrent_rows_map_back_to_their_requests() -> None:
    slow, fast = EchoRuntime(2.0, delay=0.01), EchoRuntime(10.0)
    m_slow, m_fast = model(slow), model(fast)
    b = MicroBatcher(max_rows=16)

    async def go() -> list[Any]:
        await b.predict(m_slow, row(0.5), False)  # measures the slow model: off the loop
        jobs = []
        for i in range(60):  # two models (as during a hot swap), with and without proba
            m = m_slow if i % 3 else m_fast
            jobs.append(_ask(b, m, float(i), proba=i % 2 == 0))
        return await asyncio.gather(*jobs)

    outs = asyncio.run(go())
    for i, out in enumerate(outs):
        factor = 10.0 if i % 3 == 0 else 2.0
        assert out.predictions.tolist() == [i * factor]
        if i % 2 == 0:
            assert out.probabilities.tolist() == [[i, -i]]
        else:
            assert out.probabilities is None
    # fewer model calls than requests, none larger than max_rows, the slow one in a thread
    assert len(slow.calls) + len(fast.calls) < 30 and max(slow.calls) <= 16
    assert any(name.startswith("nbmlops-predict") for name in slow.threads)
    assert fast.threads == {"MainThread"}


def test_one_bad_row_fails_only_its_own_request() -> None:
    rt = EchoRuntime(1.0, fail_on=7.0)
    m, b = model(rt), MicroBatcher()

    async def go() -> list[Any]:
        return await asyncio.gather(*(_ask(b, m, float(i)) for i in range(12)))

    outs = asyncio.run(go())
    assert isinstance(outs[7], ValueError) and "cannot predict 7.0" in str(outs[7])
    assert [o.predictions.tolist() for i, o in enumerate(outs) if i != 7] == \
        [[float(i)] for i in range(12) if i != 7]


def test_multi_row_requests_are_not_merged() -> None:
    rt = EchoRuntime(3.0)
    m, b = model(rt), MicroBatcher()

    async def go() -> list[Outputs]:
        return await asyncio.gather(*(b.predict(m, row(float(i), n=3), False)
                                      for i in range(4)))

    outs = asyncio.run(go())
    assert [o.predictions.tolist() for o in outs] == [[i * 3.0] * 3 for i in range(4)]
    assert rt.calls == [3, 3, 3, 3]
