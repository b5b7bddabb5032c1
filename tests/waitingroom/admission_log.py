"""Reading back who was admitted when: an admitted visitor's score in ``active`` is the session
expiry, so expiry - session_ttl is the exact Redis time of the tick that admitted them."""

from __future__ import annotations

from collections import defaultdict

from redis.asyncio import Redis

from waitingroom.keys import RoomKeys


async def admission_ticks(redis: Redis, room: str, session_ttl: int) -> list[tuple[float, int]]:
    """[(tick time, visitors admitted)] in time order."""
    entries = await redis.zrange(RoomKeys(room).active, 0, -1, withscores=True)
    ticks: dict[float, int] = defaultdict(int)
    for _, expiry in entries:
        ticks[round(expiry - session_ttl, 4)] += 1
    return sorted(ticks.items())


def rate_per_minute(ticks: list[tuple[float, int]], start: float, end: float) -> float:
    """Admissions per minute between the first and last tick inside [start, end].

    Credit accrues continuously and is spent at ticks, so counting what the ticks after the
    first one admitted, over the time between first and last, measures the bucket's rate to
    within one visitor.
    """
    inside = [(t, n) for t, n in ticks if start <= t <= end]
    assert len(inside) >= 2, f"too few admission ticks in the window: {inside}"
    first, last = inside[0][0], inside[-1][0]
    admitted = sum(n for _, n in inside[1:])
    return admitted * 60 / (last - first)


async def admitted_numbers_in_order(
    redis: Redis, room: str, session_ttl: int, number_of: dict[str, int]
) -> list[list[int]]:
    """The numbers admitted by each tick, ticks in time order."""
    entries = await redis.zrange(RoomKeys(room).active, 0, -1, withscores=True)
    by_tick: dict[float, list[int]] = defaultdict(list)
    for visitor, expiry in entries:
        by_tick[round(expiry - session_ttl, 4)].append(number_of[visitor])
    return [sorted(by_tick[t]) for t in sorted(by_tick)]
