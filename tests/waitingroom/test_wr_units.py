"""The admission script's rules, one at a time, on the real Redis; and the poll-pacing and
position rules."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from wr_support import TARGET_URL

from waitingroom import rooms
from waitingroom.admission import Admitter
from waitingroom.eta import rate_band
from waitingroom.keys import RoomKeys
from waitingroom.queue import (
    MAX_POLL_MS,
    MIN_POLL_MS,
    place,
    poll_after_ms,
)
from waitingroom.rooms import RoomConfig
from waitingroom.snapshot import Heartbeats, RoomSnapshot
from waitingroom.storage import Scripts


@pytest.fixture
async def admitter(pooled_redis: Redis) -> AsyncIterator[Admitter]:
    yield Admitter(pooled_redis, Scripts.load(pooled_redis), debounce_s=0.1, lapse_s=30)


async def _room(redis: Redis, room: str, waiting: list[tuple[str, int, float]], **cfg) -> None:
    """A room with visitors (id, number, seconds since last seen) in its queue."""
    await rooms.put_room(redis, room, {"target_url": TARGET_URL, **cfg})
    k = RoomKeys(room)
    now = time.time()
    for visitor, number, silent in waiting:
        await redis.zadd(k.queue, {visitor: number})
        await redis.zadd(k.seen, {visitor: now - silent})
    await redis.set(k.issued, max((n for _, n, _ in waiting), default=0))


async def _give_credit(redis: Redis, room: str, seconds: float) -> None:
    """Pretend the last tick was ``seconds`` ago with an empty bucket."""
    await redis.hset(RoomKeys(room).bucket,
                     mapping={"credit": 0, "ts": time.time() - seconds, "since": time.time()})


async def test_first_tick_admits_one_then_credit_follows_the_knob(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [(f"v{i}", i, 0) for i in range(1, 21)],
                admit_per_minute=600)
    first = await admitter.tick(room_name, locked=False)
    assert (first.admitted, first.serving) == (1, 1)
    again = await admitter.tick(room_name, locked=False)
    assert again.admitted == 0  # 10/s: no whole visitor's credit after a few ms
    await _give_credit(pooled_redis, room_name, 0.5)
    later = await admitter.tick(room_name, locked=False)
    assert (later.admitted, later.serving) == (5, 6)


async def test_credit_is_capped_at_the_burst(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [(f"v{i}", i, 0) for i in range(1, 101)],
                admit_per_minute=60)
    await _give_credit(pooled_redis, room_name, 3600.0)
    result = await admitter.tick(room_name, locked=False)
    assert result.admitted == int(admitter.burst_s)  # not 60 minutes' worth


async def test_max_active_caps_and_expired_sessions_free_slots(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [(f"v{i}", i, 0) for i in range(1, 11)],
                admit_per_minute=6000, max_active=3)
    k = RoomKeys(room_name)
    await pooled_redis.zadd(k.active, {"old-1": time.time() - 1, "live-1": time.time() + 60})
    await _give_credit(pooled_redis, room_name, 2.0)
    result = await admitter.tick(room_name, locked=False)
    assert result.admitted == 2  # 3 slots, one held by a live session; the expired one freed
    assert await pooled_redis.zscore(k.active, "old-1") is None
    assert await pooled_redis.zcard(k.active) == 3


async def test_lapsed_visitors_are_skipped_without_spending_credit(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name,
                [("gone", 1, 600), ("here", 2, 1), ("also-gone", 3, 600), ("there", 4, 1)],
                admit_per_minute=60)
    await _give_credit(pooled_redis, room_name, 2.0)
    result = await admitter.tick(room_name, locked=False)
    k = RoomKeys(room_name)
    assert (result.admitted, result.lapsed, result.serving) == (2, 2, 4)
    assert await pooled_redis.zrange(k.lapsed, 0, -1, withscores=True) == [
        ("gone", 1.0), ("also-gone", 3.0)]
    assert sorted(await pooled_redis.zrange(k.active, 0, -1)) == ["here", "there"]


async def test_a_heartbeat_brings_a_lapsed_visitor_back_to_the_head(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [("gone", 1, 600), ("b", 2, 0), ("c", 3, 0)],
                admit_per_minute=60)
    await admitter.tick(room_name, locked=False)  # credit 1: "gone" lapses, "b" admitted
    heartbeats = Heartbeats(pooled_redis, admitter.scripts, interval_s=1)
    heartbeats.note(room_name, "gone", 1)
    heartbeats.note(room_name, "c", 3)
    assert await heartbeats.flush() == 1
    k = RoomKeys(room_name)
    assert await pooled_redis.zrange(k.queue, 0, -1, withscores=True) == [
        ("gone", 1.0), ("c", 3.0)]
    await _give_credit(pooled_redis, room_name, 1.0)
    assert (await admitter.tick(room_name, locked=False)).admitted == 1
    assert await pooled_redis.zscore(k.active, "gone") is not None


async def test_paused_closed_and_zero_knob_admit_nobody(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [(f"v{i}", i, 0) for i in range(1, 6)],
                admit_per_minute=600)
    for change in ({"state": "paused"}, {"state": "closed"},
                   {"state": "open", "admit_per_minute": 0}):
        await rooms.patch_room(pooled_redis, admitter.scripts, room_name, change)
        await _give_credit(pooled_redis, room_name, 10.0)
        result = await admitter.tick(room_name, locked=False)
        assert (result.admitted, result.serving) == (0, 0), change


async def test_the_lock_allows_one_tick_per_interval(
    admitter: Admitter, pooled_redis: Redis, room_name: str
) -> None:
    await _room(pooled_redis, room_name, [("a", 1, 0)], admit_per_minute=60)
    assert await admitter.tick(room_name) is not None
    assert await admitter.tick(room_name) is None
    assert await pooled_redis.pttl(RoomKeys(room_name).tick_lock) <= 100


async def test_a_missing_room_is_not_ticked(admitter: Admitter, room_name: str) -> None:
    assert await admitter.tick(room_name, locked=False) is None


def test_poll_after_stays_within_bounds_and_grows_with_the_wait() -> None:
    etas = [None, 0, 1, 3, 4, 10, 60, 119, 120, 600, 3600, 86400]
    for seed in range(200):
        values = [poll_after_ms(e, random.Random(seed)) for e in etas[1:]]
        assert all(MIN_POLL_MS <= v <= MAX_POLL_MS for v in values)
        assert values == sorted(values)  # same jitter draw: a longer wait never polls sooner
        assert MIN_POLL_MS <= poll_after_ms(None, random.Random(seed)) <= MAX_POLL_MS
    assert poll_after_ms(1, random.Random(1)) == MIN_POLL_MS
    assert poll_after_ms(86400, random.Random(1)) == MAX_POLL_MS
    # A quarter of the wait in between, give or take the jitter.
    assert 0.8 * 15_000 <= poll_after_ms(60, random.Random(3)) <= 1.2 * 15_000
    spread = {poll_after_ms(60, random.Random(s)) for s in range(50)}
    assert len(spread) > 10  # jittered, so clients do not poll in lockstep


def test_position_never_goes_up_as_serving_rises() -> None:
    number = 500
    shown = [place(number, serving) for serving in range(0, 600, 7)]
    positions = [p for p, _ in shown]
    assert positions == sorted(positions, reverse=True)
    assert shown[0] == (500, 499)
    assert all(p >= 1 and a == p - 1 for p, a in shown)
    assert place(number, 499) == (1, 0) and place(number, 10_000) == (1, 0)


def _snap(**changes) -> RoomSnapshot:
    config = RoomConfig(target_url=TARGET_URL, admit_per_minute=600, max_active=100,
                        session_ttl=600)
    fields = {"room": "r", "config": config, "serving": 0, "issued": 0, "queue_length": 0,
              "active": 0, "prequeue_length": 0, "measured_per_minute": None, "epoch": "e",
              "fetched_at": 0.0}
    fields.update(changes)
    return RoomSnapshot(**fields)


def test_the_eta_rate_is_honest_about_measurements_and_full_rooms() -> None:
    def rate(**changes: object) -> float:
        snap = _snap(**changes)
        band = rate_band(snap.config.admit_per_minute, snap.measured_per_minute,
                         active=snap.active, max_active=snap.config.max_active,
                         session_ttl=snap.config.session_ttl)
        assert band is not None
        return band.expected

    assert rate() == 600  # nothing measured yet: the knob
    assert rate(measured_per_minute=300.0) == 300  # slower than the knob
    assert rate(measured_per_minute=900.0) == 600  # the knob was just lowered
    # Every slot taken: at worst one session per session_ttl ends, per slot.
    assert rate(active=100) == 100 * 60 / 600


def test_the_openapi_limits_are_the_limits_rooms_apply() -> None:
    """Each integer setting's maximum in the published document is accepted and one more is
    refused; each enum is what validate() takes."""
    from fairgate.web import ValidationFailed
    from waitingroom import rooms
    from waitingroom.openapi import SPEC

    put = SPEC["paths"]["/admin/api/rooms/{room}"]["put"]
    props = put["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(props) == set(rooms.FIELDS)
    for name, schema in props.items():
        if schema.get("type") == "integer":
            top = schema["maximum"]
            assert rooms.validate({name: top}) == {name: top}
            with pytest.raises(ValidationFailed):
                rooms.validate({name: top + 1})
        elif "enum" in schema:
            for value in schema["enum"]:
                assert rooms.validate({name: value}) == {name: value}
