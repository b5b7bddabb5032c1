"""Fixtures: waiting-room apps on real ports against the real Redis, and clients for them."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, DummyCookieJar, TCPConnector
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from wr_support import ROOT, StartApp

from fairgate.config import Settings
from fairgate.embedded import Backends

# The project root must be importable: without it, ``import waitingroom`` would find this test
# directory (a namespace package of the same name, as pytest puts tests/ on sys.path) instead of
# the package. A regular package anywhere on sys.path wins over a namespace one. The package is
# therefore imported inside the fixtures, after this line has run.
if ROOT not in sys.path:
    sys.path.append(ROOT)


def tuned(settings: Settings, **extra: str) -> Settings:
    """The session settings with some WR_* knobs changed."""
    return dataclasses.replace(settings, extra={**settings.extra, **extra})


@pytest.fixture
async def start_app(backends: Backends, settings: Settings, serve_app: Any) -> StartApp:
    """Start waiting-room apps (each on its own free port); all are stopped after the test."""
    from waitingroom.app import create_app

    async def start(redis_url: str | None = None, **extra: str) -> TestClient:
        return await serve_app(create_app(tuned(settings, **extra),
                                          redis_url or backends.redis_url or ""))

    return start


@pytest.fixture
async def client(start_app: StartApp) -> TestClient:
    """One app with the session's test-sized intervals and a lapse threshold nobody reaches."""
    return await start_app(WR_LAPSE_S="3600")


@pytest.fixture
async def pooled_redis(backends: Backends) -> AsyncIterator[Redis]:
    """A client over the app's kind of bounded, blocking pool (safe for many concurrent calls)."""
    from waitingroom.storage import connect

    client = connect(backends.redis_url or "", 50)
    yield client
    await client.aclose(close_connection_pool=True)


@pytest.fixture
async def anon() -> AsyncIterator[ClientSession]:
    """A client session that keeps no cookies: every request is a new visitor."""
    async with ClientSession(
        cookie_jar=DummyCookieJar(), connector=TCPConnector(limit=100)
    ) as session:
        yield session
