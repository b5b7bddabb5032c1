"""A real 3-primary Redis Cluster on loopback: one room's keys share a slot, rooms spread out."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import (
    MaxConnectionsError,
    MovedError,
    RedisClusterException,
    ResponseError,
)

from fairgate.redisconn import is_cluster_url, make_redis
from fairgate.topology import LocalRedisCluster, RedisProcess

# Touches five keys of one room, as the join and admission scripts do.
ROOM_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[4], 'admit_per_minute', ARGV[3])
redis.call('SET', KEYS[5], n)
return {n, redis.call('ZCARD', KEYS[2])}
"""
ROOM_KEYS = ("issued", "queue", "seen", "config", "serving")


def room_keys(room: str, tagged: bool = True) -> list[str]:
    tag = f"{{{room}}}" if tagged else room
    return [f"wr:{tag}:{name}" for name in ROOM_KEYS]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(primaries=3).start() as c:
        yield c


@pytest.fixture
async def client(cluster: LocalRedisCluster) -> AsyncIterator[aioredis.RedisCluster]:
    assert is_cluster_url(cluster.url)
    c = make_redis(cluster.url, pool_size=4)
    assert isinstance(c, aioredis.RedisCluster)
    yield c
    await c.aclose()


def rooms_on_every_node(cluster: LocalRedisCluster) -> dict[int, str]:
    """One fresh room name per primary (port -> room), found by asking the cluster."""
    found: dict[int, str] = {}
    for _ in range(300):  # 3 shards: a miss rate of 2/3 per draw makes 300 draws plenty
        room = f"t{secrets.token_hex(4)}"
        found.setdefault(cluster.node_for_key(room_keys(room)[0]).port, room)
        if len(found) == len(cluster.nodes):
            return found
    raise AssertionError(f"rooms landed on only {len(found)} of {len(cluster.nodes)} shards")


def slot_of(node: RedisProcess, key: str) -> int:
    with node.client() as c:
        return int(c.execute_command("CLUSTER", "KEYSLOT", key))


async def test_cluster_is_three_primaries_with_all_slots(cluster: LocalRedisCluster) -> None:
    with cluster.nodes[0].client() as c:
        info = c.cluster("INFO")
        primaries = [line for line in c.execute_command("CLUSTER", "NODES").splitlines()
                     if "master" in line.split()[2]]
    assert info["cluster_state"] == "ok"
    assert int(info["cluster_slots_assigned"]) == 16384
    assert len(primaries) == 3


async def test_room_script_runs_on_one_slot_and_rooms_spread(
    cluster: LocalRedisCluster, client: aioredis.RedisCluster
) -> None:
    script = client.register_script(ROOM_SCRIPT)
    rooms = rooms_on_every_node(cluster)
    for port, room in rooms.items():
        keys = room_keys(room)
        owner = next(n for n in cluster.nodes if n.port == port)
        slots = {slot_of(owner, k) for k in keys}
        assert len(slots) == 1, f"keys of {room} span slots {slots}"
        for visitor in range(3):
            result = await script(keys=keys, args=[f"v{visitor}", 1000 + visitor, 60])
            assert result == [visitor + 1, visitor + 1]
        # The keys physically live on the node that owns the room's slot, and only there.
        with owner.client() as c:
            assert int(c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slots.pop())) == 5
            assert int(c.dbsize()) >= 5
        for other in cluster.nodes:
            if other.port != port:
                with other.client() as c, pytest.raises(MovedError, match=f":{port}$"):
                    c.get(keys[0])
        assert await client.get(keys[0]) == "3"
    assert len(set(rooms)) == 3


async def test_control_keys_without_hash_tag_cannot_share_a_script(
    client: aioredis.RedisCluster,
) -> None:
    """Without the {room} tag the same script is refused: the tag is what makes it work."""
    room = f"t{secrets.token_hex(4)}"
    keys = room_keys(room, tagged=False)
    assert len({client.keyslot(k) for k in keys}) > 1
    script = client.register_script(ROOM_SCRIPT)
    with pytest.raises((RedisClusterException, ResponseError), match=r"(?i)slot"):
        await script(keys=keys, args=["v0", 1000, 60])


BURST = 200  # far more concurrent commands than pooled connections


async def _burst(client: aioredis.RedisCluster, rooms: list[str]) -> list[object]:
    async def pipelined(room: str) -> object:
        async with client.pipeline() as pipe:
            pipe.zadd(f"wr:{{{room}}}:seen", {"v": 1})
            pipe.zcard(f"wr:{{{room}}}:seen")
            return await pipe.execute()

    calls = [client.incr(f"wr:{{{rooms[i % len(rooms)]}}}:issued") if i % 4
             else pipelined(rooms[i % len(rooms)]) for i in range(BURST)]
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_burst_waits_for_pooled_connections_on_every_node(
    cluster: LocalRedisCluster,
) -> None:
    rooms = list(rooms_on_every_node(cluster).values())
    client = make_redis(cluster.url, pool_size=2, timeout_s=10.0)
    try:
        results = await _burst(client, rooms)
    finally:
        await client.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []


async def test_control_plain_cluster_client_fails_the_same_burst(
    cluster: LocalRedisCluster,
) -> None:
    rooms = list(rooms_on_every_node(cluster).values())
    client = aioredis.RedisCluster(
        startup_nodes=[ClusterNode(*n.address) for n in cluster.nodes],
        max_connections=2, decode_responses=True)
    try:
        results = await _burst(client, rooms)
    finally:
        await client.aclose()
    assert any(isinstance(r, MaxConnectionsError) for r in results)
