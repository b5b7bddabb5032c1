"""``/metrics`` of the waiting room: it parses, counters move with traffic, room gauges come
from the snapshots (no Redis call at scrape time), and each business event is one JSON line."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from promtext import Samples, samples_of, value
from wr_support import base_url, join, make_room, status


async def scrape(client: TestClient) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    return samples_of(await resp.text())


async def test_metrics_move_with_traffic(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fairgate.events")
    await make_room(client, room_name, admin_headers, admit_per_minute=0, max_active=1000)
    before = await scrape(client)
    base = base_url(client)
    tickets = [(await join(anon, base, room_name))["ticket"] for _ in range(5)]
    for ticket in tickets:
        await status(anon, base, room_name, ticket)
    await asyncio.sleep(0.15)  # past the snapshot interval: the next poll reads Redis again
    await status(anon, base, room_name, tickets[0])
    after = await scrape(client)
    assert value(after, "waitingroom_joins_total", room=room_name) - \
        value(before, "waitingroom_joins_total", room=room_name) == 5
    assert value(after, "waitingroom_polls_total", room=room_name) - \
        value(before, "waitingroom_polls_total", room=room_name) == 6
    assert value(after, "waitingroom_queue_length", room=room_name) == 5
    assert value(after, "waitingroom_admit_per_minute", room=room_name) == 0
    assert value(after, "waitingroom_redis_pool_connections") == 0  # no such family
    assert value(after, "fairgate_redis_pool_connections", app="waitingroom", state="max") > 0
    latency = value(after, "fairgate_http_request_duration_seconds_count", app="waitingroom",
                    route="status", status="2xx")
    assert latency >= 6

    # Open the gate: admissions, the lag histogram and the gauges follow.
    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                              json={"admit_per_minute": 60_000})
    assert resp.status == 200
    for _ in range(60):
        await asyncio.sleep(0.1)
        await status(anon, base, room_name, tickets[-1])
        now = await scrape(client)
        if value(now, "waitingroom_admissions_total", room=room_name) >= 5 and \
                value(now, "waitingroom_active_sessions", room=room_name) == 5:
            break
    assert value(now, "waitingroom_admissions_total", room=room_name) == 5
    assert value(now, "waitingroom_active_sessions", room=room_name) == 5
    assert value(now, "waitingroom_queue_length", room=room_name) == 0
    assert value(now, "waitingroom_admission_lag_seconds_count") > \
        value(before, "waitingroom_admission_lag_seconds_count")

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "fairgate.events"]
    joins = [x for x in lines if x["event"] == "join" and x["room"] == room_name]
    assert len(joins) == 5 and sorted(x["number"] for x in joins) == [1, 2, 3, 4, 5]
    admits = [x for x in lines if x["event"] == "admit" and x["room"] == room_name]
    assert sum(x["admitted"] for x in admits) == 5
    changes = [x for x in lines if x["event"] == "admin_change" and x["target"] == room_name]
    assert [x["action"] for x in changes] == ["room.create", "room.update"]
    assert changes[1]["actor"] == "admin" and changes[1]["new"] == {"admit_per_minute": 60_000}
