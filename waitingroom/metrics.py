"""Prometheus metrics of the waiting room, served by fairgate.web's ``/metrics``.

Counters move on the request path (an in-memory increment). The room figures (queue length,
active sessions, the knob, the measured rate) are gauges read at scrape time from this
process's room snapshots, and the Redis pool figures from the pool itself: a scrape costs no
Redis round trip and a request costs none for metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fairgate.web import register_scrape_collector

JOINS = Counter("waitingroom_joins_total", "Numbers handed out", ["room"])
POLLS = Counter("waitingroom_polls_total", "Status polls answered", ["room"])
ADMISSIONS = Counter("waitingroom_admissions_total", "Visitors admitted", ["room"])
LAPSES = Counter("waitingroom_lapses_total", "Visitors skipped for not polling", ["room"])
RESTORES = Counter(
    "waitingroom_restores_total", "Visitors put back from their ticket (lapsed or lost)", ["room"]
)
# Seconds between two admission ticks of a room that ran here: the debounce interval when
# admission keeps pace, more when Redis or the event loop lags behind.
ADMISSION_LAG = Histogram(
    "waitingroom_admission_lag_seconds",
    "Time between consecutive admission ticks of a room",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30),
)


class _Source:
    """One app's room snapshots (``Snapshots``) and its Redis client."""

    def __init__(self, snapshots: Any, redis: Any) -> None:
        self.snapshots = snapshots
        self.redis = redis


class WaitingRoomCollector(Collector):
    """Gauges computed at scrape time from the snapshots of every app in this process."""

    def __init__(self) -> None:
        self._sources: list[_Source] = []

    def attach(self, snapshots: Any, redis: Any) -> _Source:
        source = _Source(snapshots, redis)
        self._sources.append(source)
        return source

    def detach(self, source: _Source) -> None:
        if source in self._sources:
            self._sources.remove(source)

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "queue": GaugeMetricFamily("waitingroom_queue_length",
                                       "Visitors waiting in line", labels=["room"]),
            "pre": GaugeMetricFamily("waitingroom_prequeue_length",
                                     "Visitors waiting for the sale to open", labels=["room"]),
            "active": GaugeMetricFamily("waitingroom_active_sessions",
                                        "Admitted sessions not yet expired", labels=["room"]),
            "max": GaugeMetricFamily("waitingroom_max_active",
                                     "Cap on concurrent admitted sessions", labels=["room"]),
            "knob": GaugeMetricFamily("waitingroom_admit_per_minute",
                                      "The admission-rate knob", labels=["room"]),
            "measured": GaugeMetricFamily("waitingroom_admitted_per_minute",
                                          "Admission rate measured by the admission script",
                                          labels=["room"]),
            "serving": GaugeMetricFamily("waitingroom_serving",
                                         "Highest number called", labels=["room"]),
            "issued": GaugeMetricFamily("waitingroom_issued",
                                        "Last number handed out", labels=["room"]),
            "age": GaugeMetricFamily("waitingroom_snapshot_age_seconds",
                                     "Age of this process's snapshot of the room",
                                     labels=["room"]),
        }
        # Several apps in one process (tests) may hold the same room: the freshest wins.
        freshest: dict[str, Any] = {}
        for source in self._sources:
            for snap in source.snapshots.cached_all():
                held = freshest.get(snap.room)
                if held is None or snap.fetched_at > held.fetched_at:
                    freshest[snap.room] = snap
        now = time.monotonic()
        for room, snap in sorted(freshest.items()):
            gauges["queue"].add_metric([room], snap.queue_length)
            gauges["pre"].add_metric([room], snap.prequeue_length)
            gauges["active"].add_metric([room], snap.active)
            gauges["max"].add_metric([room], snap.config.max_active)
            gauges["knob"].add_metric([room], snap.config.admit_per_minute)
            if snap.measured_per_minute is not None:
                gauges["measured"].add_metric([room], snap.measured_per_minute)
            gauges["serving"].add_metric([room], snap.serving)
            gauges["issued"].add_metric([room], snap.issued)
            gauges["age"].add_metric([room], max(0.0, now - snap.fetched_at))
        yield from gauges.values()
        pool = GaugeMetricFamily("fairgate_redis_pool_connections",
                                 "Redis client pool connections by state",
                                 labels=["app", "state"])
        in_use = idle = limit = 0
        for source in self._sources:
            u, i, m = redis_pool_usage(source.redis)
            in_use, idle, limit = in_use + u, idle + i, limit + m
        pool.add_metric(["waitingroom", "in_use"], in_use)
        pool.add_metric(["waitingroom", "idle"], idle)
        pool.add_metric(["waitingroom", "max"], limit)
        yield pool


def redis_pool_usage(redis: Any) -> tuple[int, int, int]:
    """(in use, idle, max) connections of a redis-py client, standalone or cluster."""
    pools = [getattr(redis, "connection_pool", None)]
    if pools[0] is None and hasattr(redis, "get_nodes"):
        pools = list(redis.get_nodes())
    in_use = idle = limit = 0
    for pool in pools:
        if pool is None:
            continue
        if hasattr(pool, "_in_use_connections"):  # standalone / sentinel pool
            in_use += len(pool._in_use_connections)
            idle += len(pool._available_connections)
        else:  # a cluster node: every connection not free is in use
            free = len(getattr(pool, "_free", ()))
            in_use += len(getattr(pool, "_connections", ())) - free
            idle += free
        limit += int(getattr(pool, "max_connections", 0) or 0)
    return in_use, idle, limit


COLLECTOR = WaitingRoomCollector()
register_scrape_collector(COLLECTOR)
