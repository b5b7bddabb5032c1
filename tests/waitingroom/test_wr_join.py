"""Joining: unique, contiguous numbers under a crowd, and a ticket never gets a second one."""

from __future__ import annotations

import asyncio
import re

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from wr_support import StartApp, base_url, join, make_room

from waitingroom.keys import RoomKeys

CROWD = 2000


def assert_unique_contiguous(numbers: list[int]) -> None:
    assert len(numbers) == len(set(numbers)), "a number was handed out twice"
    assert sorted(numbers) == list(range(1, len(numbers) + 1)), "numbers are not 1..N"


async def test_a_crowd_gets_unique_contiguous_numbers_and_keeps_them(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    # Knob at 0: nobody is admitted while we count.
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)

    answers = await asyncio.gather(*(join(anon, base, room_name) for _ in range(CROWD)))

    assert_unique_contiguous([a["number"] for a in answers])
    assert len({a["ticket"] for a in answers}) == CROWD
    k = RoomKeys(room_name)
    assert await redis_client.zcard(k.queue) == CROWD
    assert int(await redis_client.get(k.issued)) == CROWD

    # Everyone comes back at once with their ticket: same numbers, nobody new.
    again = await asyncio.gather(
        *(join(anon, base, room_name, a["ticket"]) for a in answers)
    )
    assert [a["number"] for a in again] == [a["number"] for a in answers]
    assert [a["ticket"] for a in again] == [a["ticket"] for a in answers]
    assert int(await redis_client.get(k.issued)) == CROWD
    assert await redis_client.zcard(k.queue) == CROWD

    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert f'waitingroom_joins_total{{room="{room_name}"}} {CROWD}.0' in metrics


async def test_page_reload_keeps_the_number(
    client: TestClient, room_name: str, admin_headers: dict[str, str], redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    numbers = []
    for _ in range(3):
        resp = await client.get(f"/r/{room_name}")
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        html = await resp.text()
        numbers.append(int(re.search(r'data-number="(\d+)"', html).group(1)))
    api = await client.post(f"/api/rooms/{room_name}/join")
    numbers.append((await api.json())["number"])
    assert numbers == [1, 1, 1, 1]
    assert int(await redis_client.get(RoomKeys(room_name).issued)) == 1


async def test_join_answer_has_the_contract_fields(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    resp = await client.post(f"/api/rooms/{room_name}/join")
    body = await resp.json()
    assert set(body) >= {"room", "number", "ticket", "position", "ahead", "eta_s",
                         "poll_after_ms", "state"}
    assert resp.headers["X-Queue-Ticket"] == body["ticket"]
    assert body["state"] == "paused" and body["position"] == 1 and body["ahead"] == 0


async def test_leave_frees_the_place_and_a_stale_ticket_does_not_bring_it_back(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    first = await join(anon, base, room_name)
    await join(anon, base, room_name)
    async with anon.post(f"{base}/api/rooms/{room_name}/leave",
                         headers={"X-Queue-Ticket": first["ticket"]}) as resp:
        assert resp.status == 200
        assert (await resp.json())["left"] is True
    k = RoomKeys(room_name)
    assert await redis_client.zcard(k.queue) == 1
    # Polling with the old ticket keeps answering but never re-enters the queue.
    async with anon.get(f"{base}/api/rooms/{room_name}/status",
                        headers={"X-Queue-Ticket": first["ticket"]}) as resp:
        assert resp.status == 200
    await asyncio.sleep(0.5)  # > WR_HEARTBEAT_MS
    assert await redis_client.zcard(k.queue) == 1


async def test_a_room_created_again_starts_from_one_in_every_process(
    start_app: StartApp, anon: ClientSession, room_name: str, admin_headers: dict[str, str]
) -> None:
    """Numbers a process saw in a deleted room must not carry over into the new sale, even
    when another process served the delete and the new create."""
    first, second = await start_app(), await start_app()
    await make_room(first, room_name, admin_headers, admit_per_minute=0)
    for _ in range(5):
        visit = await join(anon, base_url(second), room_name)
        anon.cookie_jar.clear()
    assert visit["number"] == 5
    resp = await first.delete(f"/admin/api/rooms/{room_name}", headers=admin_headers)
    assert resp.status in (200, 204), await resp.text()
    await make_room(first, room_name, admin_headers, admit_per_minute=0)
    # Past the snapshot interval, so the second process reads the new room.
    await asyncio.sleep(0.6)
    visit = await join(anon, base_url(second), room_name)
    assert visit["number"] == 1, visit
