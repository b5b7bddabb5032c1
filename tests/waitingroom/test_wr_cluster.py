"""The waiting room on a real 3-primary Redis Cluster: every script touches one room's slot, so
joining, admission, heartbeats and the admin API work unchanged (DESIGN section 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import ClientSession
from wr_support import StartApp, base_url, join, make_room, status

from fairgate.redisconn import make_redis
from fairgate.tokens import Signer
from fairgate.topology import LocalRedisCluster
from waitingroom.keys import RoomKeys


def _visitor(answer: dict) -> str:
    return Signer(("test-newest-key-0123456789abcdef",)).load_ticket(answer["ticket"]).visitor


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster(primaries=3).start() as c:
        yield c


async def test_rooms_work_on_a_redis_cluster(
    cluster: LocalRedisCluster, start_app: StartApp, anon: ClientSession, room_name: str,
    admin_headers: dict[str, str],
) -> None:
    client = await start_app(redis_url=cluster.url, WR_LAPSE_S="3600")
    rooms = [f"{room_name}-{i}" for i in range(4)]  # spread over the shards
    base = base_url(client)
    for room in rooms:
        await make_room(client, room, admin_headers, admit_per_minute=0, max_active=1000)
    answers = {room: await asyncio.gather(*(join(anon, base, room) for _ in range(30)))
               for room in rooms}
    redis = make_redis(cluster.url, pool_size=4)
    seen_at_join = {room: await redis.zscore(RoomKeys(room).seen, _visitor(joined[-1]))
                    for room, joined in answers.items()}
    await asyncio.sleep(0.05)
    for room, joined in answers.items():
        assert sorted(a["number"] for a in joined) == list(range(1, 31))
        await status(anon, base, room, joined[-1]["ticket"])
    await asyncio.sleep(0.5)  # > WR_HEARTBEAT_MS: the polls' "last seen" marks are written
    for room, joined in answers.items():
        seen = await redis.zscore(RoomKeys(room).seen, _visitor(joined[-1]))
        assert seen > seen_at_join[room]
    await redis.aclose()
    for room in rooms:
        resp = await client.patch(f"/admin/api/rooms/{room}", json={"admit_per_minute": 6000},
                                  headers=admin_headers)
        assert resp.status == 200
    await asyncio.sleep(1.0)
    for room, joined in answers.items():
        first = await status(anon, base, room, joined[0]["ticket"])
        assert first["state"] == "admitted" and "token=" in first["redirect_url"]
        stats = await (await client.get(f"/admin/api/rooms/{room}/stats",
                                        headers=admin_headers)).json()
        assert stats["serving"] == 30 and stats["active"] == 30
    listed = await (await client.get("/admin/api/rooms", headers=admin_headers)).json()
    assert set(rooms) <= {r["room"] for r in listed["rooms"]}
