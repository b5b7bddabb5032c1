"""Prometheus metrics of the ticketing app, served by fairgate.web's ``/metrics``.

Outcomes are counted by HTTP status (``status="409"`` are seats already taken, ``"410"`` holds
that expired before confirming). Lock waits time the statements that take the row locks. Pool
figures are read from the asyncpg pools at scrape time.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fairgate.logs import log_event
from fairgate.web import ApiError, register_scrape_collector

HOLDS = Counter("ticketing_holds_total", "Hold requests answered, by status", ["status"])
CONFIRMS = Counter("ticketing_confirms_total", "Confirm requests answered, by status",
                   ["status"])
KNOWN_SOLD = Counter(
    "ticketing_holds_known_sold_total",
    "Holds refused without a query: every seat known sold to another buyer (stream.KnownSeats)",
)
PEEKS = Counter(
    "ticketing_holds_peeked_total",
    "Holds that first took the lock-free look, a notice having said a seat was taken",
)
ENTRIES = Counter("ticketing_entries_total",
                  "Admission tokens presented for a session, by status", ["status"])
LOCK_WAIT = Histogram(
    "ticketing_lock_wait_seconds",
    "Time of the statements taking row locks (waiting for them included)",
    ["op"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def counted(counter: Counter, event: str) -> Callable[[Handler], Handler]:
    """Count a handler's answers by status and write one log line per request (``event``)."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def counted_handler(request: web.Request) -> web.StreamResponse:
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except (ApiError, web.HTTPException) as exc:
                status = exc.status
                raise
            finally:
                counter.labels(str(status)).inc()
                log_event(event, app="ticketing", status=status,
                          **{f"{k}_id": v for k, v in request.match_info.items()})

        return counted_handler

    return wrap


class PoolCollector(Collector):
    """asyncpg pool usage of every ticketing app in this process, at scrape time."""

    def __init__(self) -> None:
        self._pools: list[tuple[str, Any]] = []

    def attach(self, role: str, pool: Any) -> None:
        self._pools.append((role, pool))

    def detach(self, pool: Any) -> None:
        self._pools = [(r, p) for r, p in self._pools if p is not pool]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("fairgate_pg_pool_connections",
                                   "asyncpg pool connections by state",
                                   labels=["app", "pool", "state"])
        totals: dict[tuple[str, str], float] = {}
        for role, pool in self._pools:
            size, idle = pool.get_size(), pool.get_idle_size()
            for state, value in (("in_use", size - idle), ("idle", idle),
                                 ("max", pool.get_max_size())):
                totals[(role, state)] = totals.get((role, state), 0) + value
        for (role, state), value in sorted(totals.items()):
            family.add_metric(["ticketing", role, state], value)
        yield family


POOLS = PoolCollector()
register_scrape_collector(POOLS)
