"""Tallied metrics end up exactly where prometheus_client's own calls put them."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from fairgate import tally

BUCKETS = (0.001, 0.01, 0.1, 1.0)
# Bounds themselves (a bound belongs to its own bucket), values between, and past the last.
VALUES = [0.0, 0.0005, 0.001, 0.0010001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 1.5, 30.0] * 3


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect() for s in family.samples
        if not s.name.endswith("_created")
    }


def pair(kind: type, **kw: object) -> tuple[CollectorRegistry, object, CollectorRegistry, object]:
    mine, theirs = CollectorRegistry(), CollectorRegistry()
    return (mine, kind("m", "help", ["route"], registry=mine, **kw),
            theirs, kind("m", "help", ["route"], registry=theirs, **kw))


def test_a_histogram_tally_gives_the_samples_of_observe() -> None:
    mine, tallied, theirs, observed = pair(Histogram, buckets=BUCKETS)
    counted = tally.HistogramTally(tallied.labels("status"))
    for value in VALUES:
        counted.observe(value)
        observed.labels("status").observe(value)
    assert samples(mine) != samples(theirs)  # nothing reaches the metric before a flush
    counted.flush()
    assert samples(mine) == samples(theirs)
    counted.flush()  # a second flush adds nothing
    assert samples(mine) == samples(theirs)
    counted.observe(0.05)
    observed.labels("status").observe(0.05)
    tally.flush_all()
    assert samples(mine) == samples(theirs)


def test_a_counter_tally_gives_the_samples_of_inc() -> None:
    mine, tallied, theirs, counter = pair(Counter)
    counted = tally.CounterTally(tallied.labels("room"))
    for _ in range(7):
        counted.n += 1
        counter.labels("room").inc()
    counted.flush()
    counted.flush()
    assert samples(mine) == samples(theirs)


async def test_the_flusher_flushes_while_the_app_runs_and_when_it_stops() -> None:
    registry = CollectorRegistry()
    counted = tally.CounterTally(Counter("c", "help", registry=registry))
    app = web.Application()
    app.cleanup_ctx.append(tally.flusher)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        counted.n += 2
        await asyncio.sleep(tally.FLUSH_INTERVAL_S * 1.5)
        assert registry.get_sample_value("c_total") == 2
        counted.n += 3
    finally:
        await runner.cleanup()
    assert registry.get_sample_value("c_total") == 5
