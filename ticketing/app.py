"""The ticketing application factory: wiring only. Every resource is one cleanup context."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from fairgate.config import Settings
from fairgate.web import READY_CHECKS_KEY, SIGNER_KEY, add_routes, base_app
from fairgate.web import SETTINGS_KEY as SETTINGS

from . import metrics
from .db import create_pool, create_read_pool, migrate, read_database_url
from .departures import Departures
from .events import EventCache
from .gate import VerifiedSessions
from .keys import (
    DATABASE_URL_KEY,
    DEPARTURES_KEY,
    EVENTS_KEY,
    HTTP_KEY,
    HUB_KEY,
    POOL_KEY,
    READ_POOL_KEY,
    SESSIONS_KEY,
    TUNING_KEY,
)
from .routes import ROUTES
from .stream import SeatHub
from .sweeper import run_sweeper
from .tuning import Tuning

SWEEPER_TASK_KEY = web.AppKey("tk_sweeper_task", asyncio.Task)


def create_app(settings: Settings, database_url: str) -> web.Application:
    app = base_app("ticketing", settings)
    app[DATABASE_URL_KEY] = database_url
    app[TUNING_KEY] = Tuning.from_settings(settings)
    app[EVENTS_KEY] = EventCache()
    app[SESSIONS_KEY] = VerifiedSessions(app[SIGNER_KEY])
    add_routes(app, ROUTES)
    app[READY_CHECKS_KEY].append(("postgresql", _database_ready))
    read_url = read_database_url(settings)  # a bad URL stops the start, in one line
    if read_url:
        app[READY_CHECKS_KEY].append(("postgresql-read", _read_database_ready))
    app.cleanup_ctx.extend([_database, _read_database(read_url), _seat_hub, _sweeper,
                            _waitingroom_client])
    app.on_shutdown.append(_end_streams)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    pool = await create_pool(app[SETTINGS], app[DATABASE_URL_KEY])
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        app[POOL_KEY] = pool
        metrics.POOLS.attach("primary", pool)
        yield
    finally:
        metrics.POOLS.detach(pool)
        await pool.close()


async def _database_ready(app: web.Application) -> None:
    if POOL_KEY not in app:
        raise RuntimeError("the database pool is not open")
    async with app[POOL_KEY].acquire() as conn:
        await conn.fetchval("SELECT 1")


def _read_database(url: str | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if url is None:
            app[READ_POOL_KEY] = app[POOL_KEY]
            yield
            return
        pool = await create_read_pool(app[SETTINGS], url)
        app[READ_POOL_KEY] = pool
        metrics.POOLS.attach("read", pool)
        try:
            yield
        finally:
            metrics.POOLS.detach(pool)
            await pool.close()

    return ctx


async def _read_database_ready(app: web.Application) -> None:
    if READ_POOL_KEY not in app:
        raise RuntimeError("the read pool is not open")
    async with app[READ_POOL_KEY].acquire() as conn:
        await conn.fetchval("SELECT 1")


async def _seat_hub(app: web.Application) -> AsyncIterator[None]:
    # LISTEN needs a session-level connection: behind PgBouncer in transaction mode, point
    # TK_LISTEN_DATABASE_URL at PostgreSQL itself.
    listen_url = app[SETTINGS].extra.get("TK_LISTEN_DATABASE_URL") or app[DATABASE_URL_KEY]
    hub = SeatHub(listen_url, app[TUNING_KEY].stream_coalesce_s)
    await hub.start()
    app[HUB_KEY] = hub
    yield
    await hub.stop()


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(run_sweeper(app[POOL_KEY], app[TUNING_KEY]), name="tk-sweeper")
    app[SWEEPER_TASK_KEY] = task
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _waitingroom_client(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as http:
        app[HTTP_KEY] = http
        departures = Departures(http, app[SETTINGS], app[TUNING_KEY].waitingroom_timeout_s)
        app[DEPARTURES_KEY] = departures
        yield
        await departures.drain(app[TUNING_KEY].waitingroom_timeout_s)


async def _end_streams(app: web.Application) -> None:
    """Open event streams would keep shutdown waiting; end them first."""
    if HUB_KEY in app:
        app[HUB_KEY].close_all()
