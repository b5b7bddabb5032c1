"""The waiting room's aiohttp application: wiring only (routes, resources, background tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from fairgate.config import Settings
from fairgate.web import READY_CHECKS_KEY, SETTINGS_KEY, SIGNER_KEY, add_routes, base_app

from . import metrics
from .admission import Admitter
from .appkeys import (
    ADMITTER_KEY,
    HEARTBEATS_KEY,
    QUEUE_KEY,
    REDIS_KEY,
    SCRIPTS_KEY,
    SNAPSHOTS_KEY,
)
from .queue import MIN_POLL_MS, Queue
from .rooms import ensure_epoch
from .routes import ROUTES
from .snapshot import Heartbeats, Snapshots
from .storage import REDIS_DOWN, Scripts, connect

log = logging.getLogger(__name__)

# Tuning knobs (environment, milliseconds / seconds), with their defaults.
DEBOUNCE_MS = 1000.0  # WR_DEBOUNCE_MS: one admission tick per room per interval
SNAPSHOT_MS = 250.0  # WR_SNAPSHOT_MS: how old a poll's room snapshot may be
HEARTBEAT_MS = 1000.0  # WR_HEARTBEAT_MS: how often "last seen" marks are written
# WR_LAPSE_S: a waiting visitor silent this long is skipped when called. Browsers slow timers
# in background tabs to one a minute, and polls far back come every 30 s, so it is generous.
LAPSE_S = 120.0
# Shutdown waits this long for the background tasks to finish their current step.
STOP_TIMEOUT_S = 5.0


def create_app(settings: Settings, redis_url: str) -> web.Application:
    """The waiting room on ``redis_url``; resources are created on start-up, not here."""
    app = base_app("waitingroom", settings)
    add_routes(app, ROUTES)
    app[READY_CHECKS_KEY].append(("redis", _redis_ready))
    app.cleanup_ctx.append(_redis_ctx(redis_url))
    app.cleanup_ctx.append(_background_ctx)
    return app


def _redis_ctx(redis_url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """The Redis pool and everything built on it, as one cleanup context."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS_KEY]
        redis = connect(redis_url, settings.redis_pool_size)
        scripts = Scripts.load(redis)
        admitter = Admitter(
            redis,
            scripts,
            debounce_s=settings.extra_float("WR_DEBOUNCE_MS", DEBOUNCE_MS) / 1000,
            lapse_s=settings.extra_float("WR_LAPSE_S", LAPSE_S),
        )
        heartbeat_s = max(0.01, settings.extra_float("WR_HEARTBEAT_MS", HEARTBEAT_MS) / 1000)
        snapshots = Snapshots(
            redis, scripts, admitter,
            interval_s=settings.extra_float("WR_SNAPSHOT_MS", SNAPSHOT_MS) / 1000,
            # WR_RESTORE_PAUSE_MS. Visitors next in line poll every MIN_POLL_MS; two of their
            # polls, each written within a heartbeat interval, bring them back after Redis lost
            # its data.
            restore_pause_s=settings.extra_float(
                "WR_RESTORE_PAUSE_MS", 2000 * (MIN_POLL_MS / 1000 + heartbeat_s)) / 1000,
        )
        heartbeats = Heartbeats(redis, scripts, interval_s=heartbeat_s)
        app[REDIS_KEY] = redis
        app[SCRIPTS_KEY] = scripts
        app[ADMITTER_KEY] = admitter
        app[SNAPSHOTS_KEY] = snapshots
        app[HEARTBEATS_KEY] = heartbeats
        app[QUEUE_KEY] = Queue(redis, scripts, snapshots, heartbeats, app[SIGNER_KEY])
        # Mark this Redis dataset so a later loss of its data is noticed (keys.EPOCH); a Redis
        # that is down now is not a reason to refuse to start.
        with contextlib.suppress(*REDIS_DOWN):
            await ensure_epoch(redis)
        scrape_source = metrics.COLLECTOR.attach(snapshots, redis)
        try:
            yield
        finally:
            metrics.COLLECTOR.detach(scrape_source)
            with contextlib.suppress(*REDIS_DOWN):
                await heartbeats.flush()
            await redis.aclose()

    return ctx


async def _redis_ready(app: web.Application) -> None:
    """/readyz: this process can reach its Redis."""
    await app[REDIS_KEY].ping()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    """The admission timer and the heartbeat writer, stopped with the app."""
    tasks = [
        asyncio.create_task(app[ADMITTER_KEY].run(), name="wr-admission-timer"),
        asyncio.create_task(app[HEARTBEATS_KEY].run(), name="wr-heartbeats"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in stuck:
            log.warning("background task %s did not stop within %.0fs", task.get_name(),
                        STOP_TIMEOUT_S)
