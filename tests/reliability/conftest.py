"""Fixtures of the fault tests: each test starts its own servers and app processes.

Nothing here uses the session's shared Redis or PostgreSQL: these tests kill, wipe and pause
their servers, which must never disturb other tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from fault_support import (
    ADMIN,
    SECRET,
    TK_ENV,
    WR_ENV,
    AppProcess,
    PrivatePostgres,
    Recorder,
    StartApp,
)

from fairgate.embedded import EmbeddedRedis, free_port


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """This test's own Redis (append-only file on), free to be killed or wiped."""
    server = EmbeddedRedis.start(tmp_path / "redis-data")
    yield server
    server.stop()


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pg")
    yield server
    server.stop()


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[StartApp]:
    """Start ``waitingroom`` or ``ticketing`` as a real process; all are stopped afterwards."""
    started: list[AppProcess] = []

    async def start(module: str, **env: str) -> AppProcess:
        base = {"DATA_DIR": str(tmp_path / "app-data"), "SECRET_KEYS": SECRET,
                "ADMIN_TOKEN": ADMIN, **(WR_ENV if module == "waitingroom" else TK_ENV)}
        proc = AppProcess(module, free_port(), {**base, **env},
                          tmp_path / f"{module}-{len(started)}.log")
        started.append(proc)
        await proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    """A client that keeps no cookies (each request says who it is) and records outcomes."""
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), connector=aiohttp.TCPConnector(limit=200)
    ) as http:
        yield Recorder(http)
