"""Fixtures of the security tests: both apps on real ports against the session's real Redis and
PostgreSQL, each started with the settings a test asks for."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from fairgate.config import Settings
from fairgate.embedded import Backends

# The real packages must win over the test folders of the same names (see tests/ticketing).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sec_helpers import StartApp, with_extra  # noqa: E402


@pytest.fixture
async def start_wr(backends: Backends, settings: Settings, serve_app: Any) -> StartApp:
    """Start waiting-room apps with some WR_* settings (or whole other settings)."""
    from waitingroom.app import create_app

    async def start(base: Settings | None = None, redis_url: str | None = None,
                    **extra: str) -> TestClient:
        return await serve_app(create_app(with_extra(base or settings, **extra),
                                          redis_url or backends.redis_url or ""))

    return start


@pytest.fixture
async def start_tk(backends: Backends, settings: Settings, serve_app: Any) -> StartApp:
    """Start ticketing apps with some TK_* settings (the waiting room is never called)."""
    from ticketing.app import create_app

    async def start(base: Settings | None = None, **extra: str) -> TestClient:
        knobs = {"TK_SWEEP_INTERVAL_S": "0.5", "TK_WAITINGROOM_TIMEOUT_S": "0.5", **extra}
        return await serve_app(create_app(with_extra(base or settings, **knobs),
                                          backends.database_url or ""))

    return start
