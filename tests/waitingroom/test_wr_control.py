"""Controls: the invariant checks above do catch races when the atomic steps are replaced by a
naive read-then-write, so their passing means something."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from test_wr_join import assert_unique_contiguous

from waitingroom.keys import RoomKeys


async def _naive_join(redis: Redis, room: str, visitor: str) -> int:
    k = RoomKeys(room)
    number = int(await redis.get(k.issued) or 0) + 1  # read ...
    await redis.set(k.issued, number)  # ... then write: the race the INCR avoids
    await redis.zadd(k.queue, {visitor: number})
    return number


async def test_naive_read_then_write_join_hands_out_duplicates(
    pooled_redis: Redis, room_name: str
) -> None:
    numbers = await asyncio.gather(
        *(_naive_join(pooled_redis, room_name, f"v{i}") for i in range(200))
    )
    with pytest.raises(AssertionError):
        assert_unique_contiguous(list(numbers))
    await pooled_redis.delete(*RoomKeys(room_name).all())


async def _naive_admit(redis: Redis, room: str, visitor: str, cap: int) -> None:
    k = RoomKeys(room)
    if await redis.zcard(k.active) < cap:  # check ...
        await asyncio.sleep(0)
        await redis.zadd(k.active, {visitor: 1e12})  # ... then act


async def test_naive_check_then_admit_exceeds_max_active(
    pooled_redis: Redis, room_name: str
) -> None:
    cap = 5
    await asyncio.gather(*(_naive_admit(pooled_redis, room_name, f"v{i}", cap) for i in range(50)))
    assert await pooled_redis.zcard(RoomKeys(room_name).active) > cap
    await pooled_redis.delete(*RoomKeys(room_name).all())
