"""Fixtures of the security tests: both apps on real ports against the session's real Redis and
PostgreSQL, each started with the settings a test asks for."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from fairgate.config import Settings
from fairgate.embedded import Backends

# The real packages must win over the test folders of the same names (see tests/ticketing).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sec_helpers import StartApp, with_extra  # noqa: E402


@pytest.fixture
async def start_wr(backends: Backends, settings: Settings) -> AsyncIterator[StartApp]:
    """Start waiting-room apps with some WR_* settings (or whole other settings)."""
    from waitingroom.app import create_app

    clients: list[TestClient] = []

    async def start(base: Settings | None = None, redis_url: str | None = None,
                    **extra: str) -> TestClient:
        app = create_app(with_extra(base or settings, **extra),
                         redis_url or backends.redis_url or "")
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def start_tk(backends: Backends, settings: Settings) -> AsyncIterator[StartApp]:
    """Start ticketing apps with some TK_* settings (the waiting room is never called)."""
    from ticketing.app import create_app

    clients: list[TestClient] = []

    async def start(base: Settings | None = None, **extra: str) -> TestClient:
        knobs = {"TK_SWEEP_INTERVAL_S": "0.5", "TK_WAITINGROOM_TIMEOUT_S": "0.5", **extra}
        app = create_app(with_extra(base or settings, **knobs), backends.database_url or "")
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
