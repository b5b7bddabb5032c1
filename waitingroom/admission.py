"""Debounced admission: at most one tick per room per debounce interval across all processes.

The lock is a ``SET NX PX`` inside the admission script itself, so trying costs one round trip
and a crashed process can never hold it longer than the interval. Ticks are triggered by polls
(through the snapshot refresh) and by a background timer, so a room with nobody polling this
process still moves.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from fairgate.logs import log_event
from fairgate.redisconn import RedisClient

from . import keys, rooms
from .metrics import ADMISSION_LAG, ADMISSIONS, LAPSES
from .storage import REDIS_DOWN, REDIS_FAULTS, Scripts

log = logging.getLogger(__name__)

# At most this many queue entries are examined per tick, so a long run of lapsed visitors
# at the front cannot stall Redis; the rest are handled by the next ticks.
MAX_SCAN = 2000
# The measured rate is reported once the room has been admitting for this long.
MIN_RATE_SPAN_S = 10.0
# The no-show ratio (called visitors skipped for not polling) follows this time constant, so it
# describes the crowd of the last few minutes rather than the whole sale.
NOSHOW_WINDOW_S = 120.0
# Tick gaps longer than this many debounce intervals are idle stretches, not lag (metrics).
LAG_WINDOW_TICKS = 10
# The timer re-reads the set of rooms this often.
ROOMS_REFRESH_S = 2.0
# admit.lua's answer when the room does not exist (-1: another tick ran within the interval).
NO_ROOM = -2


def stopping() -> bool:
    """True once this task was asked to stop, even if a library swallowed the cancellation
    (a timeout racing a cancel turns the CancelledError into a TimeoutError on Python 3.11)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@dataclass(frozen=True, slots=True)
class TickResult:
    admitted: int
    lapsed: int
    serving: int


class Admitter:
    """Runs admission ticks for rooms; safe to run in any number of processes at once."""

    def __init__(
        self, redis: RedisClient, scripts: Scripts, *, debounce_s: float, lapse_s: float
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.debounce_s = debounce_s
        self.lapse_s = lapse_s
        # Credit never piles up beyond a few ticks' worth, so a pause or an empty queue does
        # not turn into a stampede afterwards.
        self.burst_s = max(2.0, 3 * debounce_s)
        self._last_try: dict[str, float] = {}
        self._last_tick: dict[str, float] = {}
        self._seen_here: set[str] = set()

    def watch(self, room: str) -> None:
        """Tick this room from the timer too, before the next re-read of the room set."""
        self._seen_here.add(room)

    async def tick(self, room: str, *, locked: bool = True) -> TickResult | None:
        """One admission step; None when another tick ran within the interval (or no room).

        ``locked=False`` skips the debounce lock (tests and the control experiment only).
        """
        k = keys.RoomKeys(room)
        debounce_ms = max(1, int(self.debounce_s * 1000)) if locked else 0
        admitted, lapsed, serving = await self.scripts.admit(
            keys=[
                k.tick_lock, k.config, k.issued, k.queue, k.seen, k.lapsed, k.active,
                k.serving, k.bucket, k.admlog, k.left, k.prequeue, k.prenum, k.recent,
            ],
            args=[
                debounce_ms, self.lapse_s, self.burst_s, random.getrandbits(31), MAX_SCAN,
                MIN_RATE_SPAN_S, NOSHOW_WINDOW_S,
            ],
        )
        if admitted == NO_ROOM:
            # Room names come from URLs: forget unknown ones so they cannot grow these maps.
            self._last_try.pop(room, None)
            self._last_tick.pop(room, None)
            self._seen_here.discard(room)
            return None
        if admitted < 0:
            return None
        now = time.monotonic()
        last = self._last_tick.get(room)
        self._last_tick[room] = now
        # Only gaps between ticks of a busy room say something about lag; an idle stretch
        # (no polls, timer only) or ticks taken by another process would read as "late".
        if last is not None and now - last < LAG_WINDOW_TICKS * self.debounce_s:
            ADMISSION_LAG.observe(now - last)
        if admitted:
            ADMISSIONS.labels(room).inc(admitted)
            log_event("admit", app="waitingroom", room=room, admitted=int(admitted),
                      lapsed=int(lapsed), serving=int(serving))
        if lapsed:
            LAPSES.labels(room).inc(lapsed)
        return TickResult(int(admitted), int(lapsed), int(serving))

    async def maybe_tick(self, room: str) -> None:
        """Try a tick when this process has not tried within the interval (poll trigger)."""
        now = time.monotonic()
        # Half the interval: the Redis lock is the real guard, this only saves round trips.
        if now - self._last_try.get(room, 0.0) < self.debounce_s / 2:
            return
        self._last_try[room] = now
        try:
            await self.tick(room)
        except REDIS_DOWN as exc:
            log.warning("admission tick for %s failed: %s", room, exc)

    async def run(self) -> None:
        """Background timer: every interval, try a tick in every room."""
        names: list[str] = []
        names_at = 0.0
        while not stopping():
            # Jitter spreads the processes' attempts over the interval.
            await asyncio.sleep(self.debounce_s * random.uniform(0.9, 1.1))
            try:
                if time.monotonic() - names_at > ROOMS_REFRESH_S:
                    names = await rooms.room_names(self.redis)
                    names_at = time.monotonic()
                    self._seen_here.clear()
                for name in sorted(self._seen_here.union(names)):
                    await self.maybe_tick(name)
            except REDIS_DOWN as exc:
                log.warning("admission timer: redis unavailable: %s", exc)
            except REDIS_FAULTS:
                # Anything else Redis says must not stop admission for every room.
                log.exception("admission timer: unexpected redis error")
