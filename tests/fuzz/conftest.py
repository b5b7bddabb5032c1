"""Both apps served from a thread of their own, so schemathesis's blocking HTTP client can call
them from the test, on loopback, against the session's real Redis and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fairgate.config import Settings
from fairgate.embedded import Backends

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz_live import ThreadedApp  # noqa: E402


@pytest.fixture(scope="module")
def wr_live(backends: Backends, settings: Settings) -> Iterator[ThreadedApp]:
    from waitingroom.app import create_app

    app = ThreadedApp(lambda: create_app(settings, backends.redis_url or "")).start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def tk_live(backends: Backends, settings: Settings) -> Iterator[ThreadedApp]:
    from ticketing.app import create_app

    app = ThreadedApp(lambda: create_app(settings, backends.database_url or "")).start()
    yield app
    app.stop()
