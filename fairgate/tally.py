"""Hot-path metrics counted in plain numbers and handed to prometheus_client in bulk.

prometheus_client is made for threads: every increment takes a lock, a histogram observation
two, and with ``PROMETHEUS_MULTIPROC_DIR`` each also writes a memory-mapped file. The status poll
records one request latency and one poll count, which cost it about a twentieth of its time.
Here the event loop is the only thread that counts, so a tally adds to plain numbers and
:func:`flush_all` moves the totals into the real metric: every second (:func:`flusher`), before a
scrape of ``/metrics`` and when the app stops. A scrape by one process of several therefore sees
the others' requests of the last second at most a second late.
"""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

FLUSH_INTERVAL_S = 1.0

_TALLIES: list[CounterTally | HistogramTally] = []


class CounterTally:
    """Increments of one labelled counter child; ``n += 1`` is the whole cost of counting."""

    __slots__ = ("_child", "n")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.n = 0
        _TALLIES.append(self)

    def flush(self) -> None:
        n, self.n = self.n, 0
        if n:
            self._child.inc(n)


class HistogramTally:
    """Observations of one labelled histogram child, as bucket counts and a sum."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Any) -> None:
        self._child = child
        # The child's upper bounds end with +Inf, so every value lands in a bucket; bisect_left
        # picks the first bound >= value, the bucket prometheus_client's observe() picks.
        self._bounds = tuple(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        _TALLIES.append(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def flush(self) -> None:
        counts, self._counts = self._counts, [0] * len(self._bounds)
        total, self._sum = self._sum, 0.0
        if not any(counts):
            return
        # prometheus_client has no bulk observe(): add to the same values observe() adds to
        # (tests/test_tally.py checks the result against observe() one value at a time).
        self._child._sum.inc(total)
        for bucket, n in zip(self._child._buckets, counts, strict=True):
            if n:
                bucket.inc(n)


def flush_all() -> None:
    for tally in _TALLIES:
        tally.flush()


async def flusher(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: flush every second while the app runs, and once more when it stops."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            flush_all()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    flush_all()
