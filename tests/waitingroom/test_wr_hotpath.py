"""The hot path's shortcuts keep every guarantee: remembered tickets still expire and are never
forged, and batched joins still get unique, contiguous numbers in arrival order."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from wr_support import make_room

from fairgate.tokens import Signer, TokenError, TokenExpired
from waitingroom.appkeys import QUEUE_KEY
from waitingroom.batching import ScriptBatcher
from waitingroom.keys import RoomKeys
from waitingroom.queue import STATUS_FIELDS
from waitingroom.ticketcache import VerifiedTickets

KEY = "hotpath-test-key-0123456789abcdef"


def test_a_remembered_ticket_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import waitingroom.ticketcache as tc

    signer = Signer((KEY,))
    cache = VerifiedTickets(signer, max_age=60)
    raw = signer.ticket("r", "v" * 32, 7)
    assert cache.load(raw) == ("r", "v" * 32, 7, cache.load(raw)[3])
    assert cache.load(raw)[2] == 7
    assert (cache.hits, cache.misses) == (2, 1)
    now = tc.time.time()
    monkeypatch.setattr(tc.time, "time", lambda: now + 120)
    with pytest.raises(TokenExpired):
        cache.load(raw)


def test_forged_tickets_are_never_remembered() -> None:
    signer = Signer((KEY,))
    cache = VerifiedTickets(signer)
    forged = Signer(("another-key-0123456789abcdef0123",)).ticket("r", "v" * 32, 1)
    genuine = signer.ticket("r", "v" * 32, 1)
    for bad in (forged, genuine[:-2] + "xx", "garbage", "x" * 5000):
        for _ in range(2):
            with pytest.raises(TokenError):
                cache.load(bad)
    assert len(cache) == 0 and cache.hits == 0


def test_memory_is_bounded_and_regulars_stay() -> None:
    signer = Signer((KEY,))
    cache = VerifiedTickets(signer, generation_size=3)
    regular = signer.ticket("r", "a" * 32, 1)
    for n in range(2, 12):
        cache.load(regular)
        cache.load(signer.ticket("r", "b" * 32, n))
        assert len(cache) <= 6
    misses = cache.misses
    cache.load(regular)
    assert cache.misses == misses  # polled all along: still remembered


async def test_a_ticket_signed_here_is_remembered_and_expires_like_a_verified_one(
    client: TestClient, room_name: str, admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    queue = client.app[QUEUE_KEY]
    visit = await queue.join(room_name, None)
    misses = queue.tickets.misses
    polled = await queue.status(room_name, visit.ticket)
    assert (polled.number, polled.visitor) == (visit.number, visit.visitor)
    assert queue.tickets.misses == misses  # the first poll needed no signature check
    # The remembered copy expires no later than the signature would.
    import waitingroom.ticketcache as tc

    signed_at = queue.signer.load_ticket_stamped(visit.ticket)[1]
    monkeypatch.setattr(tc.time, "time", lambda: signed_at + queue.tickets._max_age + 0.5)
    with pytest.raises(TokenExpired):
        queue.tickets.load(visit.ticket)


async def test_batched_joins_are_unique_contiguous_in_arrival_order(
    client: TestClient, room_name: str, admin_headers: dict[str, str], redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    queue = client.app[QUEUE_KEY]
    first = await queue.join(room_name, None)
    batches, calls = queue.join_calls.batches, queue.join_calls.calls

    # Started in this order, within one event-loop turn: one batch, numbers in the same order.
    # The first visitor's repeat join rides in the middle and keeps its number.
    crowd = [queue.join(room_name, None) for _ in range(150)]
    crowd.insert(75, queue.join(room_name, first.ticket))
    visits = await asyncio.gather(*crowd)

    again = visits.pop(75)
    assert (again.number, again.ticket) == (first.number, first.ticket)
    assert [v.number for v in visits] == list(range(2, 152))
    k = RoomKeys(room_name)
    assert int(await redis_client.get(k.issued)) == 151
    assert await redis_client.zcard(k.queue) == 151
    # They shared round trips: 151 calls in far fewer batches (at most MAX_BATCH per batch).
    assert queue.join_calls.calls - calls == 151
    assert queue.join_calls.batches - batches <= 3


async def test_a_batch_survives_redis_losing_its_scripts(
    client: TestClient, room_name: str, admin_headers: dict[str, str], redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    queue = client.app[QUEUE_KEY]
    await queue.join(room_name, None)
    await redis_client.script_flush()
    visits = await asyncio.gather(*(queue.join(room_name, None) for _ in range(40)))
    assert sorted(v.number for v in visits) == list(range(2, 42))
    assert int(await redis_client.get(RoomKeys(room_name).issued)) == 41


async def test_a_failed_batch_fails_every_caller(redis_client: Redis) -> None:
    script = redis_client.register_script("return redis.call('INCR', KEYS[1])")
    batcher = ScriptBatcher(script)
    key = "wr:{hotpath}:counter"
    await redis_client.set(key, "not a number")
    results = await asyncio.gather(
        *(batcher(keys=[key], args=[]) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    await redis_client.delete(key)
    assert await asyncio.gather(*(batcher(keys=[key], args=[]) for _ in range(5))) == [
        1, 2, 3, 4, 5
    ]
    await redis_client.delete(key)


async def test_a_failed_call_fails_only_its_caller(redis_client: Redis) -> None:
    """Redis answers each script of a batch by itself: an error goes to that call alone, and
    the calls after it in the same batch still get their replies."""
    # The first key says which batch a call joins (a room's): the same for every call here.
    script = redis_client.register_script("return redis.call('INCR', KEYS[2])")
    batcher = ScriptBatcher(script)
    room, good, bad = "wr:{hotpath}:config", "wr:{hotpath}:good", "wr:{hotpath}:bad"
    await redis_client.set(bad, "not a number")
    batches = batcher.batches
    results = await asyncio.gather(
        *(batcher(keys=[room, bad if i % 3 == 1 else good], args=[]) for i in range(9)),
        return_exceptions=True,
    )
    assert (batcher.batches - batches, batcher.calls) == (1, 9)  # one round trip
    assert [r for i, r in enumerate(results) if i % 3 != 1] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(r, ResponseError) for i, r in enumerate(results) if i % 3 == 1)
    assert await batcher(keys=[room, good], args=[]) == 7
    await redis_client.delete(good, bad)


async def test_the_waiting_answer_is_the_status_answer(
    client: TestClient, room_name: str, admin_headers: dict[str, str],
) -> None:
    """The poll's shortcut for a visitor still in line says exactly what the general path says,
    and leaves every other case to it."""
    await make_room(client, room_name, admin_headers, admit_per_minute=2, max_active=1000)
    queue = client.app[QUEUE_KEY]
    visits = [await queue.join(room_name, None) for _ in range(30)]
    await queue.snapshots.fresh(room_name)  # one that has seen every number
    compared = 0
    for visit in visits:
        for _ in range(20):
            snap = await queue.snapshots.get(room_name)
            random.seed(visit.number)  # the same jitter of poll_after_ms on both paths
            fast = queue.waiting_answer(room_name, visit.ticket)
            random.seed(visit.number)
            general = (await queue.status(room_name, visit.ticket)).answer(*STATUS_FIELDS)
            if queue.snapshots.current(room_name) is snap:
                break  # both read the same snapshot
        if fast is not None:
            assert orjson.loads(fast) == general
            compared += 1
        else:
            # Called already (only Redis knows more), or issued after the snapshot was read.
            assert not snap.serving < visit.number <= snap.issued
    assert compared >= 25

    # Through HTTP: the same body, the same headers as any other answer.
    resp = await client.get(f"/api/rooms/{room_name}/status",
                            headers={"X-Queue-Ticket": visits[-1].ticket})
    assert resp.status == 200
    assert (await resp.json())["number"] == visits[-1].number
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_the_waiting_answer_uses_the_snapshot_being_refreshed(
    client: TestClient, room_name: str, admin_headers: dict[str, str],
) -> None:
    """Past its interval, a snapshot still answers polls while one of them refreshes it (as the
    general path does); with no refresh started, the general path starts one."""
    await make_room(client, room_name, admin_headers, admit_per_minute=2)
    queue = client.app[QUEUE_KEY]
    visit = await queue.join(room_name, None)
    snap = await queue.snapshots.fresh(room_name)
    await asyncio.sleep(queue.snapshots.interval_s + 0.05)
    assert queue.snapshots.current(room_name) is None
    assert queue.waiting_answer(room_name, visit.ticket) is None
    refresh = asyncio.create_task(queue.snapshots.get(room_name))
    await asyncio.sleep(0)  # the task has started the refresh and waits for Redis
    assert queue.snapshots.current(room_name) is snap
    random.seed(1)
    fast = queue.waiting_answer(room_name, visit.ticket)
    random.seed(1)
    general = (await queue.status(room_name, visit.ticket)).answer(*STATUS_FIELDS)
    assert fast is not None and orjson.loads(fast) == general
    assert await refresh is not snap
    assert queue.snapshots.current(room_name) is not snap


async def test_the_waiting_answer_leaves_other_cases_to_the_general_path(
    client: TestClient, room_name: str, admin_headers: dict[str, str], redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    queue = client.app[QUEUE_KEY]
    visit = await queue.join(room_name, None)
    # Issued after the snapshot was read: the general path checks it against Redis.
    assert queue.waiting_answer(room_name, visit.ticket) is None
    await queue.snapshots.fresh(room_name)
    assert queue.waiting_answer(room_name, visit.ticket) is not None
    forged = Signer(("another-key-0123456789abcdef0123",)).ticket(room_name, visit.visitor, 1)
    for raw in (None, "", "garbage", forged):
        assert queue.waiting_answer(room_name, raw) is None
    assert queue.waiting_answer("no-such-room", visit.ticket) is None
    # A number already called: the general path asks Redis whether it was admitted.
    await redis_client.set(RoomKeys(room_name).serving, visit.number)
    await queue.snapshots.fresh(room_name)
    assert queue.waiting_answer(room_name, visit.ticket) is None
    # A lottery has no place in line to answer from.
    await redis_client.set(RoomKeys(room_name).serving, 0)
    await make_room(client, room_name, admin_headers, admit_per_minute=0, mode="random")
    await queue.snapshots.fresh(room_name)
    assert queue.waiting_answer(room_name, visit.ticket) is None
    assert (await queue.status(room_name, visit.ticket)).number == visit.number
