"""Session-wide real servers and per-test clean namespaces.

With ``REDIS_URL`` / ``DATABASE_URL`` set, the tests use those servers; otherwise they start the
same embedded servers the apps use (``fairgate.embedded``), once per session, in a private
DATA_DIR. Each test gets fresh names (room, event) so tests never see each other's leftovers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fairgate.config import Settings
from fairgate.embedded import Backends, ensure_backends

ARTIFACTS = Path(__file__).parent / "artifacts"
TEST_SECRET_KEYS = "test-newest-key-0123456789abcdef,test-older-key-0123456789abcdef"
TEST_ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fairgate-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def backends(data_dir: Path) -> Iterator[Backends]:
    b = ensure_backends(
        data_dir, os.environ.get("REDIS_URL") or None, os.environ.get("DATABASE_URL") or None
    )
    yield b
    b.stop()


def make_settings(backends: Backends, data_dir: Path, **overrides: str) -> Settings:
    """Settings as the apps would read them from the environment, pointed at the test servers."""
    env = {
        "REDIS_URL": backends.redis_url or "",
        "DATABASE_URL": backends.database_url or "",
        "DATA_DIR": str(data_dir),
        "SECRET_KEYS": TEST_SECRET_KEYS,
        "ADMIN_TOKEN": TEST_ADMIN_TOKEN,
        # Test-sized intervals: admission ticks and snapshots fast enough for short tests.
        "WR_DEBOUNCE_MS": "100",
        "WR_SNAPSHOT_MS": "100",
        "WR_HEARTBEAT_MS": "200",
        **overrides,
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def settings(backends: Backends, data_dir: Path) -> Settings:
    return make_settings(backends, data_dir)


@pytest.fixture(scope="session")
def settings_with(backends: Backends, data_dir: Path) -> Callable[..., Settings]:
    """Settings for the test servers with some variables set (``settings_with(X="1")``)."""
    return lambda **overrides: make_settings(backends, data_dir, **overrides)


@pytest.fixture
async def redis_client(backends: Backends) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(backends.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def room_name() -> str:
    """A fresh room per test."""
    return f"t{secrets.token_hex(5)}"


ServeApp = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
async def serve_app() -> AsyncIterator[ServeApp]:
    """Serve apps on free loopback ports; every one is stopped after the test."""
    clients: list[TestClient] = []

    async def serve(app: web.Application) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield serve
    for client in clients:
        await client.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian chromium is not installed; `make test` installs it with apt-get")
    return path


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[object]:
    """Debian's chromium driven by Playwright (no downloaded browser builds)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--no-sandbox",  # running as root in CI
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        await b.close()
