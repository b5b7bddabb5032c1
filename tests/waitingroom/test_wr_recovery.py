"""Visitors who stop polling, Redis losing its data, Redis going away: places are kept."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from redis.asyncio import Redis
from wr_support import StartApp, base_url, join, make_room, status

from fairgate.embedded import EmbeddedRedis, free_port
from fairgate.tokens import Signer
from waitingroom.keys import RoomKeys

KEY = "test-newest-key-0123456789abcdef"


def _visitor(ticket: str) -> str:
    return Signer((KEY,)).load_ticket(ticket).visitor


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, so it can be flushed or killed without harming others."""
    server = EmbeddedRedis.start(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def private_client(private_redis: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(private_redis.url, decode_responses=True)
    yield client
    await client.aclose()


async def _keep_polling(session: ClientSession, base: str, room: str, tickets: list[str]) -> None:
    while True:
        for ticket in tickets:
            with contextlib.suppress(AssertionError):
                await status(session, base, room, ticket)
        await asyncio.sleep(0.1)


async def test_a_lapsed_visitor_is_skipped_then_restored_at_the_head(
    start_app: StartApp, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    client = await start_app(WR_LAPSE_S="1")
    await make_room(client, room_name, admin_headers, state="paused", admit_per_minute=60,
                    max_active=100)
    base = base_url(client)
    gone, b, c = [await join(anon, base, room_name) for _ in range(3)]
    assert [gone["number"], b["number"], c["number"]] == [1, 2, 3]

    poller = asyncio.create_task(_keep_polling(anon, base, room_name, [b["ticket"], c["ticket"]]))
    try:
        await asyncio.sleep(1.5)  # visitor 1 has been silent longer than WR_LAPSE_S
        await client.patch(f"/admin/api/rooms/{room_name}",
                           json={"state": "open", "admit_per_minute": 6000},
                           headers=admin_headers)
        await asyncio.sleep(1.0)
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    k = RoomKeys(room_name)
    assert await redis_client.zscore(k.lapsed, _visitor(gone["ticket"])) == 1
    assert await redis_client.zscore(k.active, _visitor(b["ticket"])) is not None
    assert await redis_client.zscore(k.active, _visitor(c["ticket"])) is not None
    assert int(await redis_client.get(k.serving)) == 3

    # Back again (admission held, so the queue can be looked at): the head of the queue with
    # the original number, then admitted.
    await client.patch(f"/admin/api/rooms/{room_name}", json={"state": "paused"},
                       headers=admin_headers)
    back = await status(anon, base, room_name, gone["ticket"])
    assert back["number"] == 1 and back["position"] == 1
    assert await redis_client.zrange(k.queue, 0, 0, withscores=True) == [
        (_visitor(gone["ticket"]), 1.0)]
    assert await redis_client.zscore(k.lapsed, _visitor(gone["ticket"])) is None
    await client.patch(f"/admin/api/rooms/{room_name}", json={"state": "open"},
                       headers=admin_headers)
    await asyncio.sleep(0.5)
    admitted = await status(anon, base, room_name, gone["ticket"])
    assert admitted["state"] == "admitted" and admitted["number"] == 1


async def test_after_flushall_a_returning_visitor_keeps_the_place(
    private_redis: EmbeddedRedis, private_client: Redis, start_app: StartApp,
    anon: ClientSession, room_name: str, admin_headers: dict[str, str],
) -> None:
    # A short pause after the restore (WR_RESTORE_PAUSE_MS), so admission resumes in the test's
    # time; tests/reliability/test_redis_faults.py shows what the pause is for.
    client = await start_app(redis_url=private_redis.url, WR_LAPSE_S="3600",
                             WR_RESTORE_PAUSE_MS="300")
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    tickets = [(await join(anon, base, room_name))["ticket"] for _ in range(5)]
    await status(anon, base, room_name, tickets[3])  # the process now has a snapshot

    await private_client.flushall()
    await asyncio.sleep(0.3)  # > WR_SNAPSHOT_MS: the next poll refreshes and notices

    # Visitor 4 polls: same number, and the heartbeat puts them back in the queue.
    again = await status(anon, base, room_name, tickets[3])
    assert again["number"] == 4 and again["state"] == "paused"
    await asyncio.sleep(0.5)  # > WR_HEARTBEAT_MS
    k = RoomKeys(room_name)
    assert await private_client.zscore(k.queue, _visitor(tickets[3])) == 4
    # The room's settings came back from the snapshot, and issued is past every number seen.
    resp = await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)
    assert resp.status == 200 and (await resp.json())["admit_per_minute"] == 0
    assert int(await private_client.get(k.issued)) >= 5

    # Visitor 2 comes back through join: same number; a newcomer gets a fresh, higher one.
    rejoined = await join(anon, base, room_name, tickets[1])
    assert rejoined["number"] == 2
    newcomer = await join(anon, base, room_name)
    assert newcomer["number"] == 6

    # When admission resumes, the restored visitors go first, in their order.
    await client.patch(f"/admin/api/rooms/{room_name}", json={"admit_per_minute": 6000},
                       headers=admin_headers)
    await asyncio.sleep(0.6)
    assert (await status(anon, base, room_name, tickets[1]))["state"] == "admitted"
    assert (await status(anon, base, room_name, tickets[3]))["state"] == "admitted"


async def test_redis_unreachable_answers_503_with_retry_after(
    start_app: StartApp, room_name: str, admin_headers: dict[str, str],
) -> None:
    client = await start_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    for method, path in (("POST", f"/api/rooms/{room_name}/join"),
                         ("GET", f"/api/rooms/{room_name}/status"),
                         ("POST", f"/api/rooms/{room_name}/leave")):
        resp = await client.request(method, path, headers={"X-Queue-Ticket": "x"})
        assert resp.status == 503, (path, await resp.text())
        assert int(resp.headers["Retry-After"]) > 0
        body = await resp.json()
        assert body["error"] == "queue_unavailable" and body["message"]
    page = await client.get(f"/r/{room_name}")
    assert page.status == 503 and "Retry-After" in page.headers
    assert 'http-equiv="refresh"' in await page.text()
    resp = await client.get("/admin/api/rooms", headers=admin_headers)
    assert resp.status == 503
    ready = await client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["failing"] == ["redis"]
    assert (await client.get("/healthz")).status == 200  # alive, just not ready


async def test_redis_dying_mid_sale_serves_briefly_then_503_and_keeps_places(
    private_redis: EmbeddedRedis, private_client: Redis, start_app: StartApp,
    anon: ClientSession, room_name: str, admin_headers: dict[str, str],
) -> None:
    client = await start_app(redis_url=private_redis.url, WR_LAPSE_S="3600")
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    tickets = [(await join(anon, base, room_name))["ticket"] for _ in range(3)]
    await client.patch(f"/admin/api/rooms/{room_name}", json={"admit_per_minute": 60},
                       headers=admin_headers)
    await asyncio.sleep(1.5)  # the append-only file is written every second
    before = await status(anon, base, room_name, tickets[2])

    private_redis.kill()
    # Briefly, polls are answered from the snapshot; then 503 with Retry-After, never 500.
    brief = await status(anon, base, room_name, tickets[2])
    assert brief["number"] == before["number"]
    codes = set()
    for _ in range(30):
        async with anon.get(f"{base}/api/rooms/{room_name}/status",
                            headers={"X-Queue-Ticket": tickets[2]}) as resp:
            codes.add(resp.status)
            if resp.status == 503:
                assert "Retry-After" in resp.headers
                break
        await asyncio.sleep(0.25)
    assert codes <= {200, 503} and 503 in codes

    private_redis.restart()
    await asyncio.sleep(0.3)
    after = await status(anon, base, room_name, tickets[2])
    assert after["number"] == before["number"]
    assert after["position"] <= before["position"]


async def test_polls_are_answered_without_a_redis_round_trip_each(
    private_redis: EmbeddedRedis, private_client: Redis, start_app: StartApp,
    anon: ClientSession, room_name: str, admin_headers: dict[str, str],
) -> None:
    # Slow background intervals, so what Redis sees is easy to bound.
    client = await start_app(redis_url=private_redis.url, WR_SNAPSHOT_MS="1000",
                             WR_HEARTBEAT_MS="1000", WR_DEBOUNCE_MS="60000",
                             WR_LAPSE_S="3600")
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    visitors = 20
    tickets = [(await join(anon, base, room_name))["ticket"] for _ in range(visitors)]
    polls = 1000
    before = int((await private_client.info("stats"))["total_commands_processed"])
    answers = await asyncio.gather(
        *(status(anon, base, room_name, tickets[i % visitors]) for i in range(polls))
    )
    after = int((await private_client.info("stats"))["total_commands_processed"])
    assert {a["number"] for a in answers} == set(range(1, visitors + 1))
    # A snapshot read and a heartbeat batch per second, not a command per poll. Redis counts
    # the commands inside scripts too: the heartbeat's two per distinct visitor (and the INFO
    # calls themselves) are in the figure.
    assert after - before < polls / 10, f"{after - before} Redis commands for {polls} polls"
