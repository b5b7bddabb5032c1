"""The asyncpg pool, the migration runner and the one way write transactions are run.

Every write is one transaction with a short ``lock_timeout``; the errors that mean "contended"
or "PostgreSQL is gone" are turned into 409 and 503 answers here, so no caller can forget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import asyncpg
from asyncpg.exceptions import (
    AdminShutdownError,
    CannotConnectNowError,
    CrashShutdownError,
    DeadlockDetectedError,
    InternalClientError,
    LockNotAvailableError,
    PostgresConnectionError,
    TooManyConnectionsError,
)

from fairgate.config import ConfigError, Settings

from . import queries
from .errors import Busy, DatabaseUnavailable
from .tuning import Tuning

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# pg_advisory_xact_lock key taken while migrating: "tkmigr" in ASCII, unused by anything else.
MIGRATION_LOCK_KEY = 0x746B6D696772

# What "the database cannot be reached right now" looks like from asyncpg: refused or dropped
# sockets (OSError, TimeoutError), a server shutting down or starting, or no free connection.
# InternalClientError: when the server dies, a pooled connection that was reading its last
# reply can be handed out before asyncpg notices the closed socket; its next query fails so.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    PostgresConnectionError,
    CannotConnectNowError,
    AdminShutdownError,
    CrashShutdownError,
    TooManyConnectionsError,
    InternalClientError,
)

Connection = asyncpg.Connection


async def create_pool(
    settings: Settings, database_url: str, *, application_name: str | None = None
) -> asyncpg.Pool:
    """A pool sized by settings; ``statement_cache_size`` 0 keeps it usable behind PgBouncer."""
    return await asyncpg.create_pool(
        database_url,
        min_size=settings.pg_pool_min,
        max_size=max(settings.pg_pool_max, settings.pg_pool_min, 1),
        statement_cache_size=settings.pg_statement_cache_size,
        command_timeout=30,
        reset=_no_session_state,
        server_settings={"application_name": application_name} if application_name else None,
    )


# Seat map reads may go to a streaming replica (TK_READ_DATABASE_URL); writes, locks, the
# reconciliation report and the change feed behind live updates always use the primary.
READ_URL_SETTING = "TK_READ_DATABASE_URL"
# Shown in pg_stat_activity, so an operator (and the tests) can see which pool a session is.
READ_APPLICATION_NAME = "fairgate-ticketing-read"


def read_database_url(settings: Settings) -> str | None:
    """The replica URL for seat map reads, or None to read from the primary."""
    raw = settings.extra.get(READ_URL_SETTING, "").strip()
    if raw and urlsplit(raw).scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"{READ_URL_SETTING}: expected a postgresql:// URL, got {raw!r}")
    return raw or None


async def create_read_pool(settings: Settings, url: str) -> asyncpg.Pool:
    """The replica pool: the same sizes (PG_POOL_MIN/MAX) and cache setting as the primary's."""
    return await create_pool(settings, url, application_name=READ_APPLICATION_NAME)


async def _no_session_state(conn: Connection) -> None:
    """Pool release hook, instead of asyncpg's reset query (a round trip per release).

    Before calling it asyncpg still rolls back a transaction left open, so a connection never
    returns to the pool inside one. The query it replaces (UNLISTEN, RESET ALL, CLOSE ALL,
    advisory unlock) would undo session state this app never creates: settings are SET LOCAL,
    the migration lock is transaction-scoped, LISTEN runs on the seat hub's own connection.
    """


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, oldest first."""
    found: dict[int, tuple[int, str, str]] = {}
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise RuntimeError(f"migration file name not understood: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations share version {version}")
        found[version] = (version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(conn: Connection) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied now.

    Runs in one transaction under an advisory lock, so two processes starting at once apply
    each migration once: the second waits, then finds nothing left to do.
    """
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS ticketing_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM ticketing_migrations")}
        for version, name, sql in available_migrations():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO ticketing_migrations (version, name) VALUES ($1, $2)", version, name
            )
            applied_now.append(version)
            log.info("applied migration %03d_%s", version, name)
    return applied_now


async def run_write(
    pool: asyncpg.Pool, tuning: Tuning, work: Callable[[Connection], Awaitable[T]], *,
    lock_key: int | None = None,
) -> T:
    """Run ``work`` in one transaction with a short lock timeout; ``lock_key``: an advisory
    lock taken first, in the same round trip as BEGIN (queries.LOCK_BUYER).

    A deadlock cannot happen with the lock order the queries keep, but if PostgreSQL ever
    reports one the whole transaction is retried once, then answered 409: never a 500.
    """
    for attempt in (1, 2):
        try:
            return await _transaction(pool, tuning, work, lock_key)
        except DeadlockDetectedError:
            log.warning("deadlock detected (attempt %d)", attempt)
    raise Busy()


async def _transaction(
    pool: asyncpg.Pool, tuning: Tuning, work: Callable[[Connection], Awaitable[T]],
    lock_key: int | None = None,
) -> T:
    begin = queries.BEGIN_WRITE.format(lock_timeout_ms=tuning.lock_timeout_ms)
    if lock_key is not None:
        begin += queries.LOCK_BUYER.format(key=lock_key)
    try:
        async with pool.acquire(timeout=tuning.acquire_timeout_s) as conn:
            # BEGIN and SET LOCAL lock_timeout go in one round trip, which asyncpg's
            # transaction() cannot do; so the transaction is ended here by hand: COMMIT after
            # ``work``, ROLLBACK on any exception or cancellation.
            try:
                await conn.execute(begin)
                result = await work(conn)
            except BaseException:
                await _rollback(conn)
                raise
            await conn.execute("COMMIT")
            return result
    except LockNotAvailableError:
        raise Busy() from None
    except UNAVAILABLE_ERRORS as exc:
        log.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
        raise DatabaseUnavailable() from None


async def _rollback(conn: Connection) -> None:
    """End a failed transaction; when even that fails, the pool's release rolls back or closes
    the connection, so the original error is the one reported."""
    try:
        # Inside the try: when the server dies mid-transaction, asyncpg detaches the pooled
        # connection, and even is_closed() raises InterfaceError ("released back to the pool").
        if conn.is_closed() or not conn.is_in_transaction():
            return
        await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.warning("rollback failed: %s: %s", exc.__class__.__name__, exc)


async def run_read(
    pool: asyncpg.Pool, tuning: Tuning, work: Callable[[Connection], Awaitable[T]]
) -> T:
    """Run a read on a pooled connection, answering 503 when PostgreSQL is unreachable."""
    try:
        async with pool.acquire(timeout=tuning.acquire_timeout_s) as conn:
            return await work(conn)
    except UNAVAILABLE_ERRORS as exc:
        log.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
        raise DatabaseUnavailable() from None
