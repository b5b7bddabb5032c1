"""Frees seats of expired holds in small batches, so the map shows them free and the limit
stops counting them. It skips rows a buyer has locked: a buyer never waits for the sweeper."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

import asyncpg

from . import queries
from .db import UNAVAILABLE_ERRORS, Connection, run_write
from .errors import Busy, DatabaseUnavailable
from .stream import notify_seats
from .tuning import Tuning

log = logging.getLogger(__name__)

# Housekeeping (used tokens, old idempotency keys) runs every this many sweeps.
HOUSEKEEPING_EVERY = 60


async def sweep_once(pool: asyncpg.Pool, tuning: Tuning) -> int:
    """One batch: free up to ``sweep_batch`` seats and close expired holds; returns seats freed."""

    async def work(conn: Connection) -> int:
        rows = await conn.fetch(queries.SWEEP_EXPIRED_SEATS, tuning.sweep_batch)
        by_event: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            by_event[row["event_id"]].append(row)
        for event_id, changed in by_event.items():
            await notify_seats(conn, event_id, changed)
        await conn.execute(queries.SWEEP_EXPIRED_HOLDS, tuning.sweep_batch)
        return len(rows)

    return await run_write(pool, tuning, work)


async def housekeeping(pool: asyncpg.Pool, tuning: Tuning) -> None:
    async def work(conn: Connection) -> None:
        await conn.execute(queries.FORGET_USED_TOKENS)
        await conn.execute(queries.FORGET_IDEMPOTENCY_KEYS, tuning.idempotency_ttl_s)

    await run_write(pool, tuning, work)


async def run_sweeper(pool: asyncpg.Pool, tuning: Tuning) -> None:
    """Sweep forever; a full batch means more is waiting, so go again without sleeping."""
    rounds = 0
    while True:
        try:
            freed = await sweep_once(pool, tuning)
            rounds += 1
            if rounds % HOUSEKEEPING_EVERY == 0:
                await housekeeping(pool, tuning)
        except (Busy, DatabaseUnavailable, *UNAVAILABLE_ERRORS) as exc:
            log.warning("sweep skipped: %s", exc)
            freed = 0
        except asyncpg.PostgresError:
            # A server-side error must not end the sweeper for the life of the process.
            log.exception("sweep failed")
            freed = 0
        if freed:
            log.info("sweeper freed %d seats of expired holds", freed)
        if freed < tuning.sweep_batch:
            await asyncio.sleep(tuning.sweep_interval_s)
