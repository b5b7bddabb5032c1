"""The ticketing app through a real PgBouncer in transaction mode (Debian's pgbouncer).

With PG_STATEMENT_CACHE_SIZE=0 the app migrates, creates an event and answers a burst of reads
whose transactions PgBouncer spreads over its few server connections. The control shows why
the setting exists: asyncpg's default statement cache breaks behind the same PgBouncer.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientSession
from deploy_helpers import Process, spawn, wait_http_ok

from fairgate.embedded import EmbeddedPostgres, free_port
from fairgate.pgbouncer import LocalPgBouncer

ADMIN = {"Authorization": "Bearer deploy-test-admin-token-0123456789"}
BURST = 200
POOL_SIZE = 3  # server connections PgBouncer keeps: far fewer than concurrent clients


@pytest.fixture(scope="module")
def bouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPgBouncer]:
    directory = Path(tmp_path_factory.mktemp("pgbouncer"))
    postgres = EmbeddedPostgres.start(directory / "data")
    socket_dir = Path(postgres.url.split("host=", 1)[1].split("&", 1)[0])
    try:
        (directory / "bouncer").mkdir()
        with LocalPgBouncer(socket_dir, pool_size=POOL_SIZE,
                            directory=directory / "bouncer").start() as b:
            yield b
    finally:
        postgres.stop()


@pytest.fixture(scope="module")
def ticketing(bouncer: LocalPgBouncer, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Process]:
    directory = Path(tmp_path_factory.mktemp("ticketing"))
    port = free_port()
    cmd = [sys.executable, "-m", "ticketing", "serve", "--host", "127.0.0.1",
           "--port", str(port)]
    proc = spawn("ticketing", cmd, port, directory, {
        "DATABASE_URL": bouncer.url("postgres"),
        "PG_STATEMENT_CACHE_SIZE": "0",
        "PG_POOL_MIN": "1",
        "PG_POOL_MAX": "20",
        "DATA_DIR": str(directory),
        "SECRET_KEYS": "deploy-test-secret-key-0123456789abcdef",
        "ADMIN_TOKEN": ADMIN["Authorization"].removeprefix("Bearer "),
    })
    try:
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc.popen, proc.log)
        except RuntimeError as exc:
            tail = bouncer.log_path.read_text()[-1500:]
            raise RuntimeError(f"{exc}\n--- pgbouncer log ---\n{tail}") from None
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    async with ClientSession() as s:
        yield s


async def test_ticketing_works_through_transaction_pooling(
    ticketing: Process, session: ClientSession
) -> None:
    base = f"http://127.0.0.1:{ticketing.port}"
    event = {"name": "Through PgBouncer", "room": f"t{secrets.token_hex(4)}",
             "hold_ttl_s": 300,
             "sections": [{"name": "Floor", "rows": 2, "seats_per_row": 10, "price": 1000}]}
    async with session.post(f"{base}/admin/api/events", headers=ADMIN, json=event) as resp:
        assert resp.status == 201, await resp.text()
        event_id = (await resp.json())["id"]

    async def read(path: str, headers: dict[str, str] | None = None) -> int:
        async with session.get(f"{base}{path}", headers=headers) as resp:
            await resp.read()
            return resp.status

    statuses = await asyncio.gather(*(
        read(f"/admin/api/events/{event_id}/report", ADMIN) if i % 2 else read("/api/events")
        for i in range(BURST)))
    assert set(statuses) == {200}, statuses


async def test_control_statement_cache_breaks_behind_transaction_pooling(
    bouncer: LocalPgBouncer,
) -> None:
    """asyncpg's default cache keeps named prepared statements per connection; PgBouncer hands
    each transaction whichever server connection is free, where those names do not exist."""
    pool = await asyncpg.create_pool(bouncer.url("postgres"), min_size=10, max_size=10)
    try:
        async def query(i: int) -> object:
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT $1::int + 1", i)

        results = await asyncio.gather(*(query(i) for i in range(BURST)),
                                       return_exceptions=True)
    finally:
        await pool.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors, "expected prepared-statement errors with the cache on"
    assert all(isinstance(e, asyncpg.PostgresError) for e in errors), errors[:3]
