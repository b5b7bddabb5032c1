"""The waiting room itself on Redis Cluster and on Sentinel, two processes each.

Cluster: several rooms, each on its own shard, take joins and admit through both processes.
Sentinel: the primary is killed while visitors poll and the room admits; the test reports how
long the room could not admit and checks that nobody lost their place.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, DummyCookieJar, TCPConnector
from deploy_helpers import Process, spawn, wait_http_ok, waitingroom_cmd

from fairgate.embedded import free_port
from fairgate.topology import LocalRedisCluster, LocalSentinel, RedisProcess

ADMIN = {"Authorization": "Bearer deploy-test-admin-token-0123456789"}
BOUND_S = 30.0  # loop bound for waits, not a performance target


def app_env(redis_url: str, directory: Path) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "DATA_DIR": str(directory),
        "SECRET_KEYS": "deploy-test-secret-key-0123456789abcdef",
        "ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "),
        "WR_DEBOUNCE_MS": "100",
        "WR_SNAPSHOT_MS": "100",
        "WR_HEARTBEAT_MS": "200",
        "WR_LAPSE_S": "3600",
    }


def start_apps(redis_url: str, directory: Path, count: int = 2) -> list[Process]:
    procs = []
    try:
        for i in range(count):
            port = free_port()
            procs.append(spawn(f"wr{i}", waitingroom_cmd(port), port, directory,
                               app_env(redis_url, directory)))
        for proc in procs:
            wait_http_ok(f"http://127.0.0.1:{proc.port}/healthz", proc.popen, proc.log)
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


class Room:
    """One room driven through several app processes, round robin."""

    def __init__(self, session: ClientSession, bases: list[str], name: str) -> None:
        self.session, self.bases, self.name = session, bases, name
        self._turn = 0

    def base(self) -> str:
        self._turn += 1
        return self.bases[self._turn % len(self.bases)]

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, dict[str, Any]]:
        url = f"{self.base()}{path.format(room=self.name)}"
        async with self.session.request(method, url, **kw) as resp:
            return resp.status, await resp.json()

    async def configure(self, method: str = "PUT", **settings: Any) -> None:
        status, body = await self.call(method, "/admin/api/rooms/{room}", headers=ADMIN,
                                       json=settings)
        assert status in (200, 201), body

    async def join(self, ticket: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"X-Queue-Ticket": ticket} if ticket else {}
        return await self.call("POST", "/api/rooms/{room}/join", headers=headers)

    async def status(self, ticket: str) -> tuple[int, dict[str, Any]]:
        return await self.call("GET", "/api/rooms/{room}/status",
                               headers={"X-Queue-Ticket": ticket})


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession(cookie_jar=DummyCookieJar(),
                             connector=TCPConnector(limit=40)) as s:
        yield s


# --- Redis Cluster --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster_apps(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[LocalRedisCluster, list[str]]]:
    directory = Path(tmp_path_factory.mktemp("wr-cluster"))
    with LocalRedisCluster(primaries=3).start() as cluster:
        procs = start_apps(cluster.url, directory)
        try:
            yield cluster, [f"http://127.0.0.1:{p.port}" for p in procs]
        finally:
            for proc in procs:
                proc.stop()


async def test_rooms_on_every_shard_join_and_admit_through_two_processes(
    cluster_apps: tuple[LocalRedisCluster, list[str]], session: ClientSession
) -> None:
    cluster, bases = cluster_apps
    rooms: dict[int, str] = {}
    for _ in range(300):  # 3 shards: 300 random names cover all of them many times over
        name = f"t{secrets.token_hex(4)}"
        rooms.setdefault(cluster.node_for_key(f"wr:{{{name}}}:issued").port, name)
        if len(rooms) == len(cluster.nodes):
            break
    assert len(rooms) == 3, rooms

    async def run(port: int, name: str) -> None:
        room = Room(session, bases, name)
        await room.configure(target_url="http://127.0.0.1:9/enter", admit_per_minute=0,
                             max_active=3, session_ttl=600)
        joins = await asyncio.gather(*(room.join() for _ in range(12)))
        assert all(code == 200 for code, _ in joins), joins
        tickets = {body["ticket"]: body["number"] for _, body in joins}
        assert sorted(tickets.values()) == list(range(1, 13))
        await room.configure("PATCH", admit_per_minute=6000)
        deadline = time.monotonic() + BOUND_S
        admitted: set[int] = set()
        while len(admitted) < 3:
            assert time.monotonic() < deadline, f"{name}: admitted only {admitted}"
            polls = await asyncio.gather(*(room.status(t) for t in tickets))
            for number, (code, body) in zip(tickets.values(), polls, strict=True):
                assert code == 200, body
                assert body["number"] == number
                if body["state"] == "admitted":
                    admitted.add(body["number"])
            await asyncio.sleep(0.1)
        assert admitted == {1, 2, 3}
        owner = next(n for n in cluster.nodes if n.port == port)
        with owner.client() as c:
            slot = int(c.execute_command("CLUSTER", "KEYSLOT", f"wr:{{{name}}}:issued"))
            assert int(c.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) >= 3

    await asyncio.gather(*(run(port, name) for port, name in rooms.items()))


# --- Sentinel -------------------------------------------------------------------------------------

async def test_primary_killed_while_the_room_admits_nobody_loses_a_place(
    tmp_path: Path, session: ClientSession, artifacts: Path
) -> None:
    visitors = 40
    with LocalSentinel(replicas=1, sentinels=3, quorum=2, down_after_ms=1000,
                       failover_timeout_ms=3000).start() as group:
        procs = start_apps(group.url, tmp_path)
        try:
            room = Room(session, [f"http://127.0.0.1:{p.port}" for p in procs],
                        f"t{secrets.token_hex(4)}")
            await room.configure(target_url="http://127.0.0.1:9/enter", admit_per_minute=0,
                                 max_active=visitors, session_ttl=600)
            joins = await asyncio.gather(*(room.join() for _ in range(visitors)))
            numbers = {body["ticket"]: body["number"] for _, body in joins}
            assert sorted(numbers.values()) == list(range(1, visitors + 1))
            # 300 a minute = 5 a second: admissions keep coming throughout the run.
            await room.configure("PATCH", admit_per_minute=300)

            admitted_at: dict[int, float] = {}
            unavailable = 0

            async def poll_all() -> None:
                nonlocal unavailable
                polls = await asyncio.gather(*(room.status(t) for t in numbers))
                for number, (code, body) in zip(numbers.values(), polls, strict=True):
                    if code == 503:  # Redis unreachable: the app says "retry", never 500
                        unavailable += 1
                        continue
                    assert code == 200, body
                    assert body["number"] == number
                    if body["state"] == "admitted":
                        admitted_at.setdefault(body["number"], time.monotonic())

            deadline = time.monotonic() + BOUND_S
            while len(admitted_at) < 5:
                assert time.monotonic() < deadline, "nobody admitted before the kill"
                await poll_all()
                await asyncio.sleep(0.1)
            await asyncio.to_thread(group.kill_primary)
            killed_at = time.monotonic()
            before = set(admitted_at)
            while len(admitted_at) < visitors:
                assert time.monotonic() < killed_at + BOUND_S, (
                    f"{len(admitted_at)} of {visitors} admitted after the failover")
                await poll_all()
                await asyncio.sleep(0.1)

            # Everyone still holds the number they were given; nobody was skipped.
            for ticket, number in numbers.items():
                code, body = await room.status(ticket)
                assert code == 200 and body["number"] == number, body
            assert set(admitted_at) == set(numbers.values())
            after = sorted(t for n, t in admitted_at.items() if n not in before)
            figures = {
                "no_admission_for_s": round(after[0] - killed_at, 2) if after else None,
                "status_503_answers": unavailable,
                "admitted_before_kill": len(before),
                "places_lost": 0,
                "admit_per_minute": 300,
            }
            (artifacts / "sentinel_waitingroom.json").write_text(json.dumps(figures) + "\n")
            print(f"\nwaiting room across a Sentinel failover: {json.dumps(figures)}")
            # A new visitor after the failover gets a number nobody holds.
            code, body = await room.join()
            assert code == 200 and body["number"] > visitors, body
        finally:
            for proc in procs:
                proc.stop()


async def test_joins_lost_in_a_failover_are_restored_by_tickets(
    tmp_path: Path, session: ClientSession
) -> None:
    """Replication is asynchronous: joins acknowledged by the primary just before it dies can
    be missing on the replica that replaces it. The replica is frozen (SIGSTOP) and cut off so
    the loss is certain, not a matter of timing; then the primary is killed."""
    with LocalSentinel(replicas=1, sentinels=3, quorum=2, down_after_ms=1000,
                       failover_timeout_ms=3000).start() as group:
        procs = start_apps(group.url, tmp_path)
        try:
            room = Room(session, [f"http://127.0.0.1:{p.port}" for p in procs],
                        f"t{secrets.token_hex(4)}")
            await room.configure(target_url="http://127.0.0.1:9/enter", admit_per_minute=0,
                                 max_active=100, session_ttl=600)
            early = [b for _, b in await asyncio.gather(*(room.join() for _ in range(20)))]
            primary = group.primary()
            (replica,) = [n for n in group.data_nodes if n is not primary]
            deadline = time.monotonic() + BOUND_S
            while (_offset(replica, "slave_repl_offset")
                   < _offset(primary, "master_repl_offset")):
                assert time.monotonic() < deadline, "the replica never caught up"
                await asyncio.sleep(0.05)

            assert replica.popen is not None
            replica.popen.send_signal(signal.SIGSTOP)
            try:
                with primary.client() as c:
                    c.execute_command("CLIENT", "KILL", "TYPE", "replica")
                late = [b for _, b in await asyncio.gather(*(room.join() for _ in range(20)))]
                primary.kill()
            finally:
                replica.popen.send_signal(signal.SIGCONT)
            await asyncio.to_thread(group.wait_for_new_primary, primary.address, BOUND_S)
            with replica.client() as c:  # the loss really happened
                assert c.get(f"wr:{{{room.name}}}:issued") == "20"

            held = {b["ticket"]: b["number"] for b in early + late}
            assert sorted(held.values()) == list(range(1, 41))
            # Visitors whose join was lost still hold their number.
            for ticket, number in held.items():
                code, body = await _retry_503(lambda t=ticket: room.status(t))
                assert code == 200 and body["number"] == number, body
            # A newcomer must not be handed a number someone already holds.
            code, newcomer = await _retry_503(room.join)
            assert code == 200, newcomer
            assert newcomer["number"] not in set(held.values()), (
                f"newcomer got number {newcomer['number']}, already held by a visitor whose "
                "join was lost in the failover")
            # Coming back with the ticket puts each visitor back with the same number.
            for ticket, number in held.items():
                code, body = await room.join(ticket)
                assert code == 200 and body["number"] == number, body
        finally:
            for proc in procs:
                proc.stop()


def _offset(node: RedisProcess, field: str) -> int:
    with node.client() as c:
        return int(c.info("replication").get(field, 0))


async def _retry_503(call: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]
                     ) -> tuple[int, dict[str, Any]]:
    """Right after a failover the apps may still answer 503 (retry later) for a moment."""
    deadline = time.monotonic() + BOUND_S
    while True:
        code, body = await call()
        if code != 503 or time.monotonic() > deadline:
            return code, body
        await asyncio.sleep(0.2)
