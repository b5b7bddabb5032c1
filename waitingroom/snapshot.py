"""Per-process room snapshots and batched heartbeats: what keeps the poll off Redis.

A status poll reads the room's numbers from a snapshot at most ``WR_SNAPSHOT_MS`` old. When it
is older, exactly one request refreshes it (one pipelined read) while the others keep answering
from the cached copy. "Last seen" updates are collected in memory and written once per
``WR_HEARTBEAT_MS`` as one pipelined script call per room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from redis.asyncio import RedisCluster
from redis.exceptions import NoScriptError

from fairgate.redisconn import RedisClient

from . import keys
from .admission import Admitter, stopping
from .errors import RedisUnavailable, RoomNotFound
from .metrics import RESTORES
from .rooms import RoomConfig, ensure_epoch
from .storage import REDIS_DOWN, REDIS_FAULTS, Scripts

log = logging.getLogger(__name__)

# While Redis does not answer, polls keep being served from a snapshot this old at most; after
# that they get 503 (the page says it is reconnecting).
STALE_LIMIT_S = 5.0
# Visitors per heartbeat script call, so one call never blocks Redis for long.
HEARTBEAT_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    room: str
    config: RoomConfig
    serving: int
    issued: int
    queue_length: int
    active: int
    prequeue_length: int
    measured_per_minute: float | None
    epoch: str
    fetched_at: float  # time.monotonic()
    # Share of called visitors skipped for not polling, as the admission script measured it.
    noshow_ratio: float = 0.0


class Snapshots:
    """Cache of room snapshots, refreshed by one request in flight per room."""

    def __init__(
        self, redis: RedisClient, scripts: Scripts, admitter: Admitter, *, interval_s: float,
        restore_pause_s: float = 0.0,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.admitter = admitter
        self.interval_s = interval_s
        # After Redis lost its data, admission waits this long for waiting visitors to return.
        self.restore_pause_s = restore_pause_s
        self._cache: dict[str, RoomSnapshot] = {}
        self._inflight: dict[str, asyncio.Task[RoomSnapshot]] = {}
        # Highest ticket number this process has handed out or been shown, per room: after a
        # loss of Redis's data, ``issued`` is raised past it.
        self._highest: dict[str, int] = {}

    def note_number(self, room: str, number: int) -> None:
        if number > self._highest.get(room, 0):
            self._highest[room] = number

    def highest(self, room: str) -> int:
        """The highest number this process knows was issued in ``room``."""
        snap = self._cache.get(room)
        return max(self._highest.get(room, 0), snap.issued if snap else 0)

    def cached(self, room: str) -> RoomSnapshot | None:
        return self._cache.get(room)

    def cached_all(self) -> list[RoomSnapshot]:
        """Every room snapshot held now (metrics read them at scrape time)."""
        return list(self._cache.values())

    def current(self, room: str) -> RoomSnapshot | None:
        """The snapshot :meth:`get` would answer with at once, without starting a refresh:
        the cached one if it is at most one interval old or, while a refresh is in flight, at
        most STALE_LIMIT_S old. None when a refresh is due and nobody has started it."""
        snap = self._cache.get(room)
        if snap is None:
            return None
        age = time.monotonic() - snap.fetched_at
        if age < self.interval_s or (age < STALE_LIMIT_S and room in self._inflight):
            return snap
        return None

    async def get(self, room: str) -> RoomSnapshot:
        """A snapshot at most one interval old (or a briefly stale one while Redis is away)."""
        snap = self._cache.get(room)
        if snap is not None and time.monotonic() - snap.fetched_at < self.interval_s:
            return snap
        task = self._inflight.get(room)
        if task is None:
            task = self._start_refresh(room, snap)
        elif snap is not None and time.monotonic() - snap.fetched_at < STALE_LIMIT_S:
            return snap  # someone else is refreshing: answer from the cached copy
        # Past the stale limit, wait for the refresh like its starter does: while Redis stays
        # down there is nearly always a refresh in flight under load, and answering from the
        # cached copy here would serve a frozen snapshot for the whole outage.
        try:
            # Shielded: a visitor closing the tab must not cancel everyone's refresh.
            return await asyncio.shield(task)
        except RedisUnavailable:
            if snap is not None and time.monotonic() - snap.fetched_at < STALE_LIMIT_S:
                return snap
            raise

    async def fresh(self, room: str) -> RoomSnapshot:
        """A snapshot read from Redis now (sharing a refresh already in flight); raises
        RoomNotFound when the room is gone, RedisUnavailable when Redis does not answer."""
        task = self._inflight.get(room) or self._start_refresh(room, self._cache.get(room))
        return await asyncio.shield(task)

    def _start_refresh(self, room: str, prev: RoomSnapshot | None) -> asyncio.Task[RoomSnapshot]:
        task = asyncio.create_task(self._refresh(room, prev))
        self._inflight[room] = task
        task.add_done_callback(lambda t: self._done(room, t))
        return task

    def _done(self, room: str, task: asyncio.Task[RoomSnapshot]) -> None:
        self._inflight.pop(room, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            self._cache[room] = task.result()
        elif isinstance(exc, RoomNotFound):
            self._cache.pop(room, None)

    def forget(self, room: str) -> None:
        """Drop a room's snapshot (after the operator changed or deleted it here)."""
        self._cache.pop(room, None)
        self._highest.pop(room, None)

    async def _refresh(self, room: str, prev: RoomSnapshot | None) -> RoomSnapshot:
        self.admitter.watch(room)
        try:
            await self.admitter.maybe_tick(room)
            snap = await self._fetch(room, prev)
            if prev is not None and snap.epoch != prev.epoch:
                # Redis lost its data: put the room back as this process last saw it.
                await self._restore(prev)
                snap = await self._fetch(room, None)
            elif prev is not None and snap.config.created_at != prev.config.created_at:
                # The room was deleted and created again (maybe through another process): the
                # numbers seen in the old sale must not become the new sale's floor.
                self._highest.pop(room, None)
            return snap
        except REDIS_DOWN as exc:
            raise RedisUnavailable() from exc

    async def _fetch(self, room: str, prev: RoomSnapshot | None) -> RoomSnapshot:
        k = keys.RoomKeys(room)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.config)
            pipe.get(k.issued)
            pipe.get(k.serving)
            pipe.zcard(k.queue)
            pipe.zcount(k.active, f"({time.time()}", "+inf")
            pipe.zcard(k.prequeue)
            pipe.hmget(k.bucket, "rate_pm", "noshow")
            pipe.get(keys.EPOCH)
            raw, issued, serving, queued, active, pre, measured, epoch = await pipe.execute()
        rate, noshow = measured
        if epoch is None:
            epoch = await ensure_epoch(self.redis)
        if not raw:
            if prev is not None and prev.epoch != epoch:
                return RoomSnapshot(room, prev.config, 0, 0, 0, 0, 0, None, epoch, 0.0)
            raise RoomNotFound()
        config = RoomConfig.from_hash(raw)
        serving_n = int(serving or 0)
        if prev is not None and prev.epoch == epoch and prev.config.created_at == config.created_at:
            # Processes see Redis at slightly different moments; what this one has shown
            # never goes back.
            serving_n = max(serving_n, prev.serving)
        return RoomSnapshot(
            room=room,
            config=config,
            serving=serving_n,
            issued=int(issued or 0),
            queue_length=int(queued),
            active=int(active),
            prequeue_length=int(pre),
            measured_per_minute=float(rate) if rate is not None else None,
            epoch=epoch,
            fetched_at=time.monotonic(),
            noshow_ratio=float(noshow) if noshow is not None else 0.0,
        )

    async def _restore(self, prev: RoomSnapshot) -> None:
        k = keys.RoomKeys(prev.room)
        fields = [x for pair in prev.config.to_hash().items() for x in pair]
        issued = max(prev.issued, self._highest.get(prev.room, 0))
        # A session seen active ends within session_ttl of now at the latest.
        sessions_end = time.time() + prev.config.session_ttl
        written = await self.scripts.restore_room(
            keys=[k.config, k.issued, k.serving, k.tick_lock, k.active],
            args=[issued, prev.serving, int(self.restore_pause_s * 1000), prev.active,
                  sessions_end, *fields],
        )
        await self.redis.sadd(keys.ROOMS, prev.room)
        log.warning(
            "redis lost its data; room %s restored from this process's snapshot "
            "(config %s, issued>=%d, serving>=%d, %d admission slots held until %.0f)",
            prev.room, "rewritten" if written else "already there", issued, prev.serving,
            prev.active, sessions_end,
        )


class Heartbeats:
    """Collects "last seen" marks of waiting visitors and writes them in one batch."""

    def __init__(self, redis: RedisClient, scripts: Scripts, *, interval_s: float) -> None:
        self.redis = redis
        self.scripts = scripts
        self.interval_s = interval_s
        self._pending: dict[str, dict[str, int]] = {}
        self._loaded = False

    def note(self, room: str, visitor: str, number: int) -> None:
        pending = self._pending.get(room)  # (setdefault would make a dict on every call)
        if pending is None:
            pending = self._pending[room] = {}
        pending[visitor] = number

    async def flush(self) -> int:
        """Write what was collected; returns how many visitors were put back in a queue."""
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        calls: list[tuple[str, list[str]]] = []
        for room, visitors in batch.items():
            items = list(visitors.items())
            for start in range(0, len(items), HEARTBEAT_CHUNK):
                calls.append(
                    (room, [str(x) for pair in items[start:start + HEARTBEAT_CHUNK] for x in pair])
                )
        try:
            if isinstance(self.redis, RedisCluster):
                # redis-py refuses scripts in cluster pipelines: one call per room, concurrently
                # (each goes to the node owning that room's slot).
                results = await asyncio.gather(
                    *(self.scripts.heartbeat(keys=self._keys(room), args=args)
                      for room, args in calls)
                )
            else:
                if not self._loaded:
                    # A pipelined script call cannot load the script by itself.
                    await self.redis.script_load(self.scripts.heartbeat.script)
                    self._loaded = True
                async with self.redis.pipeline(transaction=False) as pipe:
                    for room, args in calls:
                        await self.scripts.heartbeat(keys=self._keys(room), args=args, client=pipe)
                    results = await pipe.execute()
        except (*REDIS_DOWN, NoScriptError) as exc:
            # NoScriptError: Redis restarted and forgot the script; loaded again next time.
            self._loaded = False
            log.warning("heartbeat flush failed, kept for the next one: %s", exc)
            for room, visitors in batch.items():
                pending = self._pending.setdefault(room, {})
                for visitor, number in visitors.items():
                    pending.setdefault(visitor, number)
            return 0
        restored = 0
        for (room, _), count in zip(calls, results, strict=True):
            if count:
                RESTORES.labels(room).inc(count)
                restored += int(count)
        return restored

    @staticmethod
    def _keys(room: str) -> list[str]:
        k = keys.RoomKeys(room)
        return [k.config, k.issued, k.queue, k.seen, k.lapsed, k.active, k.serving, k.left]

    async def run(self) -> None:
        while not stopping():
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except REDIS_FAULTS:
                log.exception("heartbeat flush: unexpected redis error; batch dropped")
