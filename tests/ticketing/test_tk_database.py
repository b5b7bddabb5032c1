"""PostgreSQL going away, migrations racing at start-up, and the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from tk_helpers import Tk, tk_settings_for

from fairgate.embedded import Backends, free_port
from ticketing import events, queries
from ticketing.app import create_app
from ticketing.db import available_migrations, migrate
from ticketing.tuning import Tuning

ROOT = Path(__file__).resolve().parents[2]


class PgProxy:
    """A TCP forwarder in front of the test PostgreSQL that can be cut like a failed network."""

    def __init__(self, database_url: str) -> None:
        self.upstream = urlsplit(database_url)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        user = self.upstream.username or "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.port}{self.upstream.path}"

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = parse_qs(self.upstream.query).get("host", [None])[0]
        if socket_dir:
            port = self.upstream.port or 5432
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(self.upstream.hostname, self.upstream.port or 5432)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await self._connect_upstream()
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()


async def test_postgres_unreachable_answers_503_and_writes_nothing(
    tk: Tk, tk_settings, backends: Backends
) -> None:
    assert backends.database_url is not None
    proxy = PgProxy(backends.database_url)
    await proxy.start()
    settings = tk_settings_for(tk_settings, tk_settings.waitingroom_url,
                               TK_ACQUIRE_TIMEOUT_S="2")
    server = TestServer(create_app(settings, proxy.url), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        event = await tk.create_event()
        async with tk.http.post(base + "/api/session",
                                json={"token": tk.token(event.room)}) as resp:
            assert resp.status == 200
            headers = {"Authorization": f"Bearer {(await resp.json())['session']}"}
        before = await tk.snapshot(event)

        await proxy.cut()
        for method, path, body in [
            ("POST", f"/api/events/{event.id}/holds", {"seat_ids": event.seat_ids[:2]}),
            ("GET", f"/api/events/{event.id}/seats", None),
            ("POST", "/api/session", {"token": tk.token(event.room)}),
            ("GET", "/api/events", None),
        ]:
            async with tk.http.request(method, base + path, headers=headers,
                                       json=body) as resp:
                data = await resp.json()
                assert (resp.status, data["error"]) == (503, "database_unavailable"), path
                assert resp.headers["Retry-After"].isdigit()
        assert await tk.snapshot(event) == before
    finally:
        await server.close()


async def test_two_processes_migrating_at_once_apply_each_migration_once(
    backends: Backends, db: asyncpg.Pool
) -> None:
    name = f"tk_migrate_{secrets.token_hex(4)}"
    await db.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(backends.database_url)
    url = parts._replace(path=f"/{name}").geturl()
    conns = [await asyncpg.connect(url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        expected = [v for v, _, _ in available_migrations()]
        assert sorted(applied, key=len) == [[], [], expected]
        rows = await conns[0].fetch("SELECT version FROM ticketing_migrations ORDER BY version")
        assert [r["version"] for r in rows] == expected
        assert await migrate(conns[0]) == []
    finally:
        for c in conns:
            await c.close()
        await db.execute(f'DROP DATABASE "{name}"')


def _run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "ticketing", *args], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=60)


def test_cli_migrate_is_idempotent(backends: Backends, tmp_path: Path) -> None:
    done = _run_cli("migrate", DATABASE_URL=backends.database_url or "",
                    DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def test_cli_bad_configuration_is_one_line(tmp_path: Path) -> None:
    done = _run_cli("migrate", DATABASE_URL="mysql://nope", DATA_DIR=str(tmp_path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "DATABASE_URL" in done.stderr


async def test_a_new_event_replaces_plans_made_when_the_seats_table_was_small(
    backends: Backends, db: asyncpg.Pool
) -> None:
    """A plan PostgreSQL cached for a hold's seat lock while the table held a few seats scans
    the whole table. Creating an event refreshes the statistics, so the next hold looks its
    seats up by key instead of reading every seat of every event."""
    name = f"tk_stats_{secrets.token_hex(4)}"
    await db.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(backends.database_url)._replace(path=f"/{name}").geturl()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    conn = await asyncpg.connect(url)
    tuning = Tuning()

    def layout(rows: int) -> events.NewEvent:
        return events.parse_new_event({
            "name": f"Stats {rows}", "room": f"stats{rows}", "per_visitor_limit": 4,
            "sections": [{"name": "A", "rows": rows, "seats_per_row": 100, "price": 100}],
        })

    async def seat_lock_plan() -> str:
        rows = await conn.fetch("EXPLAIN EXECUTE lock_seats(1, 'v', 'k', ARRAY[5, 6])")
        return "\n".join(r[0] for r in rows)

    try:
        await migrate(conn)
        await events.create_event(pool, tuning, layout(1))
        # The plan a pooled connection keeps once a statement has run a few times.
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE lock_seats AS {queries.LOCK_SEATS_FOR_HOLD}")
        assert "Seq Scan on seats" in await seat_lock_plan()  # 100 seats: reading all is cheapest

        await events.create_event(pool, tuning, layout(100))  # 10,000 seats more
        plan = await seat_lock_plan()
        assert "Seq Scan on seats" not in plan, plan
        assert "seats_pkey" in plan, plan
    finally:
        await conn.close()
        await pool.close()
        await db.execute(f'DROP DATABASE "{name}"')


async def test_statistics_that_cannot_be_refreshed_do_not_fail_the_event(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await asyncpg.create_pool(backends.database_url, min_size=0, max_size=1)
    await pool.close()  # every acquire now fails
    with caplog.at_level(logging.WARNING, logger="ticketing.events"):
        await events.refresh_seat_statistics(pool, Tuning())
    assert "seat statistics not refreshed" in caplog.text
