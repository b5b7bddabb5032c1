"""Calls of one Lua script for the same room, sent to Redis together.

When a sale opens, hundreds of joins a second arrive for one room, and each paid a Redis round
trip plus redis-py's per-call machinery (retry wrapper, timeout, pool get and release, command
packing), which cost more than the script itself. Here the calls that arrive while one batch for
the room is on the wire wait for it to return (a single round trip at most) and then leave
together as one pipeline of ``EVALSHA``s. A lone call goes out at the next event-loop turn.

Every call is still its own script execution, so nothing about its result changes: numbers come
from ``INCR`` inside each script, Redis runs the calls in pipeline order, which is their arrival
order in this process (first come, first served), and a ticket's repeat join is answered by the
script exactly as before.

A batch goes out on one pooled connection of the client, packed, retried and parsed by redis-py's
own connection, but not through its ``Pipeline`` object: that one arms a timer for every reply
and runs its command bookkeeping per call, 12-14 µs of CPU per join under wrk
(``bench.waitingroom``), more than a tenth of the join. Here one deadline, the connection's
``socket_timeout``, covers reading the whole batch, and a dropped connection is retried as the
pipeline retried it (redis-py 5.3 or later: ``get_connection()`` without a command name).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fairgate.redisconn import pack

# Calls per pipeline: large enough for a flash crowd, small enough that one batch keeps Redis
# busy for a millisecond or so, not long enough to delay other rooms' commands.
MAX_BATCH = 128

_Call = tuple[Sequence[str], Sequence[Any], "asyncio.Future[Any]"]


class ScriptBatcher:
    def __init__(self, script: AsyncScript, *, max_batch: int = MAX_BATCH) -> None:
        self._script = script
        self._max_batch = max_batch
        # Per room (its first key, which carries the room's hash tag): calls waiting to go.
        self._pending: dict[str, list[_Call]] = {}
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        # redis-py refuses EVALSHA in a cluster pipeline: on a Cluster every call goes alone.
        self._enabled = not isinstance(script.registered_client, RedisCluster)
        self.batches = 0
        self.calls = 0

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if not self._enabled:
            return await self._script(keys=keys, args=args)
        tag = keys[0]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(tag, []).append((keys, args, future))
        if tag not in self._running:
            self._running.add(tag)
            task = asyncio.create_task(self._drain(tag))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, tag: str) -> None:
        try:
            while True:
                waiting = self._pending.pop(tag, None)
                if not waiting:
                    return
                batch = waiting[: self._max_batch]
                if len(waiting) > self._max_batch:
                    self._pending[tag] = waiting[self._max_batch:] + self._pending.get(tag, [])
                # A caller that was cancelled before its call left (the client went away)
                # is not sent at all.
                batch = [call for call in batch if not call[2].done()]
                if batch:
                    await self._send(batch)
        finally:
            self._running.discard(tag)

    async def _send(self, batch: list[_Call]) -> None:
        self.batches += 1
        self.calls += len(batch)
        try:
            results = await self._round_trip(batch)
        except BaseException as exc:  # hand every failure to the callers, cancellation too
            for _, _, future in batch:
                _fail(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (keys, args, future), result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError):
                # Redis lost its script cache (a restart): the call did not run. The script
                # object loads the script again and runs it, as it does for a single call.
                try:
                    result = await self._script(keys=keys, args=args)
                except Exception as exc:
                    _fail(future, exc)
                    continue
            if isinstance(result, Exception):
                _fail(future, result)
            else:
                _settle(future, result)

    async def _round_trip(self, batch: list[_Call]) -> list[Any]:
        """Each call's reply, or the error Redis answered it with, in the order of ``batch``."""
        script = self._script
        pool = script.registered_client.connection_pool
        conn = await pool.get_connection()
        try:
            # No MULTI: each script is atomic by itself, and the order of the batch is kept.
            sha = script.sha
            packed = [pack(("EVALSHA", sha, len(keys), *keys, *args)) for keys, args, _ in batch]
            return await conn.retry.call_with_retry(
                lambda: _exchange(conn, packed, len(batch)), lambda _: conn.disconnect()
            )
        finally:
            await pool.release(conn)


async def _exchange(conn: AbstractConnection, packed: list[bytes], count: int) -> list[Any]:
    """Send ``packed`` and read its ``count`` replies within one ``socket_timeout``."""
    await conn.send_packed_command(packed)  # connects, and PINGs an idle connection, first
    replies: list[Any] = []
    try:
        async with asyncio.timeout(conn.socket_timeout):
            for _ in range(count):
                try:
                    # math.inf: no timer of its own, the deadline above covers it.
                    replies.append(await conn.read_response(timeout=math.inf))
                except ResponseError as exc:  # that script's error, the connection is fine
                    replies.append(exc)
    except TimeoutError:
        await conn.disconnect(nowait=True)  # replies may still come: the connection is spent
        raise RedisTimeoutError("Timeout reading a batch of script replies") from None
    return replies


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
