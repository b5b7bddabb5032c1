"""A real Sentinel group on loopback: the client follows a failover without being rebuilt.

Primary + 1 replica + 3 sentinels (quorum 2, down-after 1 s). The figures (how long writes
failed, how many acknowledged writes were lost) are printed and kept in tests/artifacts for
docs/DEPLOY.md; the assertions are about behaviour, not speed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ReadOnlyError, RedisError

from fairgate.redisconn import PRIMARY_RECHECK_S, make_redis
from fairgate.topology import LocalSentinel

WRITE_EVERY_S = 0.01
RECOVERY_BOUND_S = 30.0  # a loop bound, not a performance target


@pytest.fixture
def sentinel_group() -> Iterator[LocalSentinel]:
    with LocalSentinel(replicas=1, sentinels=3, quorum=2, down_after_ms=1000,
                       failover_timeout_ms=3000).start() as group:
        yield group


class Writer:
    """Appends increasing numbers through one client, recording which ones were acknowledged."""

    def __init__(self, client: aioredis.Redis, key: str) -> None:
        self.client, self.key = client, key
        self.acked: list[int] = []
        self.errors: list[BaseException] = []
        self.fail_started: float | None = None
        self.outages: list[float] = []
        self._next = 0

    async def write_once(self) -> bool:
        value = self._next
        self._next += 1
        try:
            await self.client.rpush(self.key, value)
        except RedisError as exc:
            self.errors.append(exc)
            if self.fail_started is None:
                self.fail_started = time.monotonic()
            return False
        self.acked.append(value)
        if self.fail_started is not None:
            self.outages.append(time.monotonic() - self.fail_started)
            self.fail_started = None
        return True


async def test_client_follows_primary_killed_mid_run(
    sentinel_group: LocalSentinel, artifacts: Path
) -> None:
    client = make_redis(sentinel_group.url, pool_size=4, timeout_s=1.0)
    writer = Writer(client, "wr:{failover}:acked")
    try:
        for _ in range(100):
            assert await writer.write_once()
            await asyncio.sleep(WRITE_EVERY_S)
        old = sentinel_group.primary_address()
        await asyncio.to_thread(sentinel_group.kill_primary)
        killed_at = time.monotonic()
        acked_before_kill = list(writer.acked)

        deadline = killed_at + RECOVERY_BOUND_S
        while not await writer.write_once():
            assert time.monotonic() < deadline, f"no write succeeded: {writer.errors[-1]!r}"
            await asyncio.sleep(WRITE_EVERY_S)
        downtime = time.monotonic() - killed_at
        for _ in range(100):
            assert await writer.write_once(), writer.errors[-1]
            await asyncio.sleep(WRITE_EVERY_S)

        new = sentinel_group.primary_address()
        assert new != old
        stored = {int(v) for v in await client.lrange(writer.key, 0, -1)}
    finally:
        await client.aclose()

    with sentinel_group.primary().client() as direct:  # the same data, read off the new primary
        assert {int(v) for v in direct.lrange(writer.key, 0, -1)} == stored
    after_kill = [v for v in writer.acked if v not in set(acked_before_kill)]
    assert set(after_kill) <= stored, "a write acknowledged by the new primary was lost"
    lost = sorted(set(acked_before_kill) - stored)
    figures = {
        "writes_failed_for_s": round(downtime, 3),
        "failed_attempts": len(writer.errors),
        "error_kinds": sorted({type(e).__name__ for e in writer.errors}),
        "acked_before_kill": len(acked_before_kill),
        "acked_lost": len(lost),
        "down_after_ms": sentinel_group.down_after_ms,
    }
    (artifacts / "sentinel_failover.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nsentinel failover (SIGKILL primary): {json.dumps(figures)}")
    assert writer.errors, "killing the primary should interrupt writes for a while"


async def test_demoted_primary_answers_readonly_and_client_moves_on(
    sentinel_group: LocalSentinel,
) -> None:
    """A manual failover leaves the old primary alive and writable for a while, then demoted
    (READONLY). The Sentinel client moves to the new primary without waiting for the demotion;
    a client bound to the old address sees READONLY."""
    old_node = sentinel_group.primary()
    pinned = aioredis.Redis(host=old_node.address[0], port=old_node.port, decode_responses=True)
    client = make_redis(sentinel_group.url, pool_size=2, timeout_s=1.0)
    writer = Writer(client, "wr:{manual}:acked")
    try:
        assert await writer.write_once() and await pinned.ping()
        with sentinel_group.sentinels[0].client() as s:
            assert s.execute_command("SENTINEL", "FAILOVER", sentinel_group.service)
        new_node = await asyncio.to_thread(sentinel_group.wait_for_new_primary,
                                           old_node.address, RECOVERY_BOUND_S)
        # Once the sentinels name the new primary, the next checkout after the recheck interval
        # moves the client there, although the old primary still accepts writes.
        await asyncio.sleep(PRIMARY_RECHECK_S * 1.5)
        assert await writer.write_once(), writer.errors[-1]
        with new_node.client() as direct:
            assert str(writer.acked[-1]) in direct.lrange(writer.key, -1, -1)
        assert (await pinned.info("replication"))["role"] == "master", "demoted too early"

        # The sentinels turn the old primary into a replica of the new one shortly after.
        deadline = time.monotonic() + RECOVERY_BOUND_S
        while (await pinned.info("replication"))["role"] != "slave":
            assert time.monotonic() < deadline, "the old primary was never demoted"
            assert await writer.write_once() or not writer.errors[-1:], writer.errors[-1]
            await asyncio.sleep(0.05)
        with pytest.raises(ReadOnlyError):
            await pinned.rpush(writer.key, "x")

        # Through the Sentinel client, writes keep succeeding and land on the new primary.
        for _ in range(20):
            assert await writer.write_once(), repr(writer.errors[-1])
        last = writer.acked[-1]
    finally:
        await client.aclose()
        await pinned.aclose()
    assert not any(isinstance(e, ReadOnlyError) for e in writer.errors)
    with new_node.client() as direct:
        stored = {int(v) for v in direct.lrange(writer.key, 0, -1)}
    assert last in stored
    # Pooled connections kept writing to the old primary until it was demoted; those writes
    # were acknowledged and then discarded when it resynced from the new primary.
    lost = len(set(writer.acked) - stored)
    print(f"\nmanual failover: {len(writer.acked)} writes acknowledged, {lost} lost, "
          f"{len(writer.errors)} failed attempts")
