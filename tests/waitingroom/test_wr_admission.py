"""Debounced admission against the real Redis: FIFO, the knob's rate, the max_active cap,
knob changes at the next tick, and pausing."""

from __future__ import annotations

import asyncio
import time

from admission_log import admission_ticks, admitted_numbers_in_order, rate_per_minute
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from wr_support import base_url, join, make_room, status

from fairgate.tokens import Signer
from waitingroom.keys import RoomKeys

TTL = 600


async def _crowd(anon: ClientSession, client: TestClient, room: str, n: int) -> list[dict]:
    base = base_url(client)
    answers = []
    for start in range(0, n, 100):  # joined in order, so numbers follow list order
        answers += await asyncio.gather(
            *(join(anon, base, room) for _ in range(min(100, n - start)))
        )
    return answers


def _visitors(answers: list[dict]) -> dict[str, int]:
    signer = Signer(("test-newest-key-0123456789abcdef",))
    return {signer.load_ticket(a["ticket"]).visitor: a["number"] for a in answers}


async def _redis_now(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1e6


async def test_admits_in_ticket_order_at_the_knobs_rate(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0, max_active=10_000,
                    session_ttl=TTL)
    answers = await _crowd(anon, client, room_name, 200)
    number_of = _visitors(answers)

    # 600/min = 10/s with ticks every 100 ms; measured over ~8 s of ticks.
    opened = await _redis_now(redis_client)
    resp = await client.patch(f"/admin/api/rooms/{room_name}", json={"admit_per_minute": 600},
                              headers=admin_headers)
    assert resp.status == 200
    base = base_url(client)
    positions: list[int] = []
    deadline = time.monotonic() + 9.5
    while time.monotonic() < deadline:
        s = await status(anon, base, room_name, answers[-1]["ticket"])
        positions.append(s["position"])
        await asyncio.sleep(0.05)
    # Stop admitting so that what is read below is one consistent picture.
    await client.patch(f"/admin/api/rooms/{room_name}", json={"state": "paused"},
                       headers=admin_headers)
    await asyncio.sleep(0.3)

    ticks = await admission_ticks(redis_client, room_name, TTL)
    rate = rate_per_minute(ticks, opened + 1.0, opened + 9.5)
    assert abs(rate - 600) / 600 <= 0.05, f"measured {rate:.1f}/min against a knob of 600"

    # Zero FIFO inversions: every tick admits numbers above all earlier ticks' numbers.
    per_tick = await admitted_numbers_in_order(redis_client, room_name, TTL, number_of)
    admitted = [n for tick in per_tick for n in tick]
    assert admitted == list(range(1, len(admitted) + 1))
    assert int(await redis_client.get(RoomKeys(room_name).serving)) == len(admitted)

    # The place shown to the last visitor only ever went down.
    assert positions == sorted(positions, reverse=True)
    assert positions[0] > positions[-1]


async def test_a_knob_change_takes_effect_at_the_next_tick(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=600, max_active=10_000,
                    session_ttl=TTL)
    await _crowd(anon, client, room_name, 300)
    await asyncio.sleep(2.0)
    changed = await _redis_now(redis_client)
    resp = await client.patch(f"/admin/api/rooms/{room_name}", json={"admit_per_minute": 3000},
                              headers=admin_headers)
    assert resp.status == 200
    await asyncio.sleep(3.0)

    ticks = await admission_ticks(redis_client, room_name, TTL)
    before = rate_per_minute(ticks, changed - 1.5, changed)
    after = rate_per_minute(ticks, changed, changed + 3.0)
    assert abs(before - 600) / 600 <= 0.15, before
    assert abs(after - 3000) / 3000 <= 0.05, after
    # The first tick after the change already runs at the new rate (~5 per 100 ms, not ~1).
    first_after = next(n for t, n in ticks if t > changed)
    assert first_after >= 3, ticks


async def test_max_active_is_never_exceeded(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    cap = 5
    # A fast knob, short sessions: the cap, not the rate, decides who gets in.
    await make_room(client, room_name, admin_headers, admit_per_minute=6000, max_active=cap,
                    session_ttl=1)
    await _crowd(anon, client, room_name, 100)
    k = RoomKeys(room_name)
    peak = served = 0
    # Watch until several rounds of sessions have come and gone; the deadline only bounds a
    # stuck run (on a quiet machine this takes about 3 s).
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and (served < 3 * cap or peak < cap):
        peak = max(peak, await redis_client.zcard(k.active))
        served = int(await redis_client.get(k.serving) or 0)
        await asyncio.sleep(0.01)
    assert peak <= cap, f"{peak} admitted at once with max_active={cap}"
    assert peak == cap
    # Sessions ended and freed their slots: more than one round of visitors got in.
    assert served >= 3 * cap


async def test_ending_a_session_frees_the_slot_at_once(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=6000, max_active=1,
                    session_ttl=TTL)
    answers = await _crowd(anon, client, room_name, 2)
    base = base_url(client)
    await asyncio.sleep(0.5)
    first = await status(anon, base, room_name, answers[0]["ticket"])
    assert first["state"] == "admitted"
    second = await status(anon, base, room_name, answers[1]["ticket"])
    assert second["state"] == "waiting"

    visitor = Signer(("test-newest-key-0123456789abcdef",)).load_ticket(
        answers[0]["ticket"]).visitor
    resp = await client.delete(f"/admin/api/rooms/{room_name}/active/{visitor}",
                               headers=admin_headers)
    assert resp.status == 204
    await asyncio.sleep(0.5)
    second = await status(anon, base, room_name, answers[1]["ticket"])
    assert second["state"] == "admitted"


async def test_paused_and_zero_knob_admit_nobody(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=6000, state="paused")
    answers = await _crowd(anon, client, room_name, 20)
    base = base_url(client)
    serving = RoomKeys(room_name).serving
    await asyncio.sleep(1.0)
    assert await redis_client.get(serving) is None
    assert (await status(anon, base, room_name, answers[0]["ticket"]))["state"] == "paused"

    await client.patch(f"/admin/api/rooms/{room_name}",
                       json={"state": "open", "admit_per_minute": 0}, headers=admin_headers)
    await asyncio.sleep(1.0)
    assert await redis_client.get(serving) is None
    assert (await status(anon, base, room_name, answers[0]["ticket"]))["state"] == "paused"

    await client.patch(f"/admin/api/rooms/{room_name}", json={"admit_per_minute": 6000},
                       headers=admin_headers)
    await asyncio.sleep(1.0)
    assert int(await redis_client.get(serving) or 0) > 0
    admitted = await status(anon, base, room_name, answers[0]["ticket"])
    assert admitted["state"] == "admitted"
    assert "?token=" in admitted["redirect_url"]


async def test_unknown_room_names_leave_no_trace(
    client: TestClient, room_name: str, redis_client: Redis
) -> None:
    """Room names come from URLs: asking for rooms that do not exist must write nothing to
    Redis and must not grow the admitter's per-room memory."""
    from waitingroom.appkeys import ADMITTER_KEY

    names = [f"{room_name}-nx{i}" for i in range(20)]
    for name in names:
        resp = await client.get(f"/api/rooms/{name}/status")
        assert resp.status == 404, await resp.text()
        resp = await client.post(f"/api/rooms/{name}/join")
        assert resp.status == 404, await resp.text()
    for name in names:
        assert await redis_client.exists(RoomKeys(name).tick_lock) == 0
    admitter = client.server.app[ADMITTER_KEY]
    remembered = set(admitter._last_try) | set(admitter._last_tick) | admitter._seen_here
    assert remembered.isdisjoint(names)
