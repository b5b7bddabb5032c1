"""Fixtures of the ticketing tests: one live app per session on a real PostgreSQL, a real
stand-in for the waiting room's admin API, and a helper that makes a fresh event per test and
mints admission tokens exactly as the waiting room does."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from fairgate.config import Settings
from fairgate.embedded import Backends, free_port
from fairgate.tokens import Signer

# pytest's prepend import mode puts tests/ on sys.path, where the folder tests/ticketing would
# pass for a namespace package named ticketing. With the project root ahead of it, `import
# ticketing` finds the real package (a regular package wins over a namespace portion).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if getattr(sys.modules.get("ticketing"), "__file__", "") is None:
    del sys.modules["ticketing"]

from tk_helpers import Tk, tk_settings_for  # noqa: E402

from ticketing.app import create_app  # noqa: E402


@dataclass
class WaitingRoomStub:
    """A small real HTTP server answering the waiting room's visitor-left call."""

    url: str
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    rooms: set[str] = field(default_factory=set)  # what GET /admin/api/rooms/{room} finds

    def left(self, room: str) -> list[str]:
        return [visitor for r, visitor, _auth in self.calls if r == room]


@pytest.fixture(scope="session")
async def waitingroom_stub() -> AsyncIterator[WaitingRoomStub]:
    stub = WaitingRoomStub(url="")

    async def visitor_left(request: web.Request) -> web.Response:
        stub.calls.append((request.match_info["room"], request.match_info["visitor"],
                           request.headers.get("Authorization", "")))
        return web.Response(status=204)

    async def room(request: web.Request) -> web.Response:
        name = request.match_info["room"]
        if name in stub.rooms:
            return web.json_response({"room": name})
        return web.json_response({"error": "room_not_found", "message": "No such room."},
                                 status=404)

    app = web.Application()
    app.router.add_delete("/admin/api/rooms/{room}/active/{visitor}", visitor_left)
    app.router.add_get("/admin/api/rooms/{room}", room)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    stub.url = f"http://127.0.0.1:{port}"
    yield stub
    await runner.cleanup()


@pytest.fixture(scope="session")
def tk_settings(settings: Settings, waitingroom_stub: WaitingRoomStub) -> Settings:
    return tk_settings_for(settings, waitingroom_stub.url)


@pytest.fixture(scope="session")
async def tk_server(tk_settings: Settings, backends: Backends) -> AsyncIterator[TestServer]:
    assert backends.database_url is not None
    server = TestServer(create_app(tk_settings, backends.database_url), host="127.0.0.1",
                        port=free_port())
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture(scope="session")
async def db(backends: Backends, tk_server: TestServer) -> AsyncIterator[asyncpg.Pool]:
    """A pool of its own for the tests' SQL checks (the app has migrated by now)."""
    pool = await asyncpg.create_pool(backends.database_url, min_size=1, max_size=25)
    yield pool
    await pool.close()


@pytest.fixture
async def tk(tk_server: TestServer, tk_settings: Settings, admin_headers: dict[str, str],
             db: asyncpg.Pool) -> AsyncIterator[Tk]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield Tk(tk_server, http, Signer(tk_settings.secret_keys), admin_headers, db)
