"""A scheduled sale: arrivals before opens_at get numbers in random order at the opening,
later arrivals strictly in order; closed rooms take nobody new."""

from __future__ import annotations

import asyncio
import time

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from wr_support import base_url, join, make_room, status

from waitingroom.keys import RoomKeys

EARLY = 40


async def test_early_arrivals_are_numbered_at_random_at_the_opening(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    opens_at = time.time() + 2.0
    await make_room(client, room_name, admin_headers, admit_per_minute=0, opens_at=opens_at)
    base = base_url(client)
    early = [await join(anon, base, room_name) for _ in range(EARLY)]  # in arrival order
    assert all(e["number"] is None and e["state"] == "waiting" for e in early)
    assert all(abs(e["opens_at"] - opens_at) < 0.01 and e["opens_in_s"] > 0 for e in early)
    # Coming back before the opening changes nothing.
    again = await join(anon, base, room_name, early[0]["ticket"])
    assert again["number"] is None and again["ticket"] == early[0]["ticket"]
    before = await status(anon, base, room_name, early[1]["ticket"])
    assert before["number"] is None and before["eta_s"] >= 1
    # The queue page shows the countdown; its visitor is one more early arrival.
    async with anon.get(f"{base}/r/{room_name}") as page:
        assert 'id="countdown"' in await page.text() and "00:00:0" in await page.text()
        early.append({"ticket": page.headers["X-Queue-Ticket"]})
    assert await redis_client.zcard(RoomKeys(room_name).prequeue) == EARLY + 1

    await asyncio.sleep(max(0.0, opens_at - time.time()) + 0.2)
    numbered = [await status(anon, base, room_name, e["ticket"]) for e in early]
    numbers = [s["number"] for s in numbered]
    assert sorted(numbers) == list(range(1, EARLY + 2))
    assert numbers != sorted(numbers), "numbers followed arrival order"
    # Each got a ticket proving the drawn number; it keeps working.
    for s in numbered:
        assert s["ticket"] and s["state"] == "paused"
        assert (await status(anon, base, room_name, s["ticket"]))["number"] == s["number"]

    late = [await join(anon, base, room_name) for _ in range(5)]
    assert [x["number"] for x in late] == list(range(EARLY + 2, EARLY + 7))


async def test_a_closed_room_takes_nobody_new_but_keeps_its_visitors(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    first = await join(anon, base, room_name)
    await client.patch(f"/admin/api/rooms/{room_name}", json={"state": "closed"},
                       headers=admin_headers)
    async with anon.post(f"{base}/api/rooms/{room_name}/join") as resp:
        assert resp.status == 409 and (await resp.json())["error"] == "room_closed"
    await asyncio.sleep(0.15)  # > WR_SNAPSHOT_MS
    assert (await status(anon, base, room_name, first["ticket"]))["state"] == "closed"
    page = await client.get(f"/r/{room_name}")
    assert page.status == 200 and "closed" in await page.text()
