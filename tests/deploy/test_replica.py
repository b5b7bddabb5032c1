"""Seat maps from a real streaming replica (``TK_READ_DATABASE_URL``), writes on the primary.

The replica is made the way an operator makes one: ``pg_basebackup -R`` from a running primary
(both from the pgserver wheel's binaries), then started as a hot standby. Pausing WAL replay on
the replica shows which server answers: a seat held on the primary stays free in the map until
replay resumes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from fairgate.config import ConfigError, Settings
from fairgate.embedded import EmbeddedPostgres
from fairgate.tokens import Signer

BOUND_S = 20.0  # loop bound for waits, not a performance target
# The copied data directory holds the primary's socket lock file (pgserver keeps its socket
# there); another port number gives the standby a socket name of its own.
STANDBY_PORT = 5433
ADMIN = {"Authorization": "Bearer test-admin-token-0123456789abcdef"}  # tests/conftest.py


def pg_bin(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


@dataclass
class Pair:
    primary_url: str
    replica_url: str


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    # PostgreSQL refuses to run as root; pgserver then runs it as its own "pgserver" user.
    user = "pgserver" if os.geteuid() == 0 else None
    top = Path(tempfile.mkdtemp(prefix="fairgate-replica-"))
    top.chmod(0o755)
    primary = EmbeddedPostgres.start(top / "primary")
    standby = top / "standby"
    standby.mkdir(mode=0o700)
    if user:
        shutil.chown(standby, user, user)
    started = False
    try:
        primary_socket = primary.url.split("host=", 1)[1]
        subprocess.run([pg_bin("pg_basebackup"), "-h", primary_socket, "-U", "postgres",
                        "-D", str(standby), "-R", "-X", "stream", "-c", "fast"],
                       user=user, check=True, capture_output=True, timeout=60)
        subprocess.run([pg_bin("pg_ctl"), "-D", str(standby), "-l", str(standby / "log"), "-w",
                        "-o", f"-h '' -k {standby} -p {STANDBY_PORT}", "start"],
                       user=user, check=True, capture_output=True, timeout=60)
        started = True
        yield Pair(primary.url,
                   f"postgresql://postgres:@/postgres?host={standby}&port={STANDBY_PORT}")
    finally:
        if started:
            subprocess.run([pg_bin("pg_ctl"), "-D", str(standby), "-m", "immediate", "stop"],
                           user=user, capture_output=True, timeout=60, check=False)
        primary.stop()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
async def app_url(pair: Pair, settings_with: Callable[..., Settings]) -> AsyncIterator[str]:
    from ticketing.app import create_app

    settings = settings_with(TK_READ_DATABASE_URL=pair.replica_url)
    server = TestServer(create_app(settings, pair.primary_url), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def caught_up(pair: Pair, replica: asyncpg.Connection) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    primary = await asyncpg.connect(pair.primary_url)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await primary.close()
    deadline = time.monotonic() + BOUND_S
    while not await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target):
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.05)


async def seat_statuses(http: aiohttp.ClientSession, url: str,
                        session: dict[str, str]) -> dict[int, str]:
    async with http.get(url, headers=session) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
    return {s["id"]: s["status"] for s in body["seats"]}


async def test_seat_map_is_read_from_the_replica(
    pair: Pair, app_url: str, settings_with: Callable[..., Settings]
) -> None:
    room = f"tk{secrets.token_hex(5)}"
    replica = await asyncpg.connect(pair.replica_url)
    try:
        assert await replica.fetchval("SELECT pg_is_in_recovery()")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{app_url}/admin/api/events", headers=ADMIN, json={
                "name": "Replica test", "room": room, "per_visitor_limit": 4,
                "hold_ttl_s": 300,
                "sections": [{"name": "A", "rows": 1, "seats_per_row": 4, "price": 100}],
            }) as resp:
                event = await resp.json()
                assert resp.status == 201, event
            await caught_up(pair, replica)
            assert await replica.fetchval("SELECT 1 FROM events WHERE id = $1", event["id"])

            token = Signer(settings_with().secret_keys).admission(
                room, secrets.token_hex(16), 1, time.time() + 600)
            async with http.post(f"{app_url}/api/session", json={"token": token}) as resp:
                data = await resp.json()
                assert resp.status == 200, data
            session = {"Authorization": f"Bearer {data['session']}"}
            seats_url = f"{app_url}/api/events/{event['id']}/seats"
            seats = await seat_statuses(http, seats_url, session)
            assert set(seats.values()) == {"free"}
            readers = await replica.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                "fairgate-ticketing-read")
            assert readers >= 1

            await replica.execute("SELECT pg_wal_replay_pause()")
            seat = min(seats)
            async with http.post(f"{app_url}/api/events/{event['id']}/holds", headers={
                **session, "Idempotency-Key": secrets.token_hex(8)}, json={"seat_ids": [seat]},
            ) as resp:
                assert resp.status == 201, await resp.text()
            # Written on the primary, not yet replayed: the map still shows the seat free.
            assert (await seat_statuses(http, seats_url, session))[seat] == "free"

            await replica.execute("SELECT pg_wal_replay_resume()")
            deadline = time.monotonic() + BOUND_S
            while (await seat_statuses(http, seats_url, session))[seat] != "held":
                assert time.monotonic() < deadline, "the replica never caught up"
                await asyncio.sleep(0.05)
    finally:
        await replica.close()


def test_a_bad_read_url_stops_the_start(settings_with: Callable[..., Settings]) -> None:
    from ticketing.app import create_app

    with pytest.raises(ConfigError, match="TK_READ_DATABASE_URL"):
        create_app(settings_with(TK_READ_DATABASE_URL="mysql://db/tickets"), "postgresql://x/y")
