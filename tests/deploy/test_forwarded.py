"""Secure cookies behind a TLS-terminating proxy: ``X-Forwarded-Proto`` counts only from a
trusted peer (``WR_TRUSTED_PROXIES``), never from anyone who sends it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import ClientSession, DummyCookieJar
from aiohttp.test_utils import TestServer

from fairgate.config import Settings
from fairgate.embedded import Backends


@pytest.fixture
async def start(
    backends: Backends, settings_with: Callable[..., Settings]
) -> AsyncIterator[Callable[..., object]]:
    from waitingroom.app import create_app

    servers: list[TestServer] = []

    async def run(**extra: str) -> str:
        server = TestServer(create_app(settings_with(**extra), backends.redis_url or ""),
                            host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url(""))

    yield run
    for server in servers:
        await server.close()


async def ticket_cookie(base: str, headers: dict[str, str]) -> str:
    room = f"t{secrets.token_hex(5)}"
    async with ClientSession(cookie_jar=DummyCookieJar()) as session:
        async with session.put(f"{base}/admin/api/rooms/{room}", headers=ADMIN,
                               json={"target_url": "http://127.0.0.1:9/enter"}) as resp:
            assert resp.status in (200, 201), await resp.text()
        async with session.post(f"{base}/api/rooms/{room}/join", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            cookies = resp.headers.getall("Set-Cookie")
    return next(v for v in cookies if v.startswith("wr_ticket_"))


def is_secure(cookie: str) -> bool:
    return any(part.strip().lower() == "secure" for part in cookie.split(";"))


HTTPS = {"X-Forwarded-Proto": "https"}
ADMIN = {"Authorization": "Bearer test-admin-token-0123456789abcdef"}  # tests/conftest.py


async def test_forwarded_proto_is_ignored_unless_a_proxy_is_trusted(start) -> None:
    base = await start()
    assert not is_secure(await ticket_cookie(base, HTTPS))


async def test_a_trusted_proxy_makes_cookies_secure(start) -> None:
    base = await start(WR_TRUSTED_PROXIES="127.0.0.1")
    assert is_secure(await ticket_cookie(base, HTTPS))
    assert is_secure(await ticket_cookie(base, {"X-Forwarded-Proto": "http, https"}))
    assert not is_secure(await ticket_cookie(base, {}))
    assert not is_secure(await ticket_cookie(base, {"X-Forwarded-Proto": "http"}))
    assert not is_secure(await ticket_cookie(base, {"X-Forwarded-Proto": "gopher"}))


async def test_a_peer_outside_the_trusted_list_is_not_believed(start) -> None:
    base = await start(WR_TRUSTED_PROXIES="10.0.0.7")
    assert not is_secure(await ticket_cookie(base, HTTPS))


async def test_a_trusted_network_counts_like_its_addresses(start) -> None:
    base = await start(WR_TRUSTED_PROXIES="10.0.0.0/8,127.0.0.0/8")
    assert is_secure(await ticket_cookie(base, HTTPS))
    base = await start(WR_TRUSTED_PROXIES="10.0.0.0/8")
    assert not is_secure(await ticket_cookie(base, HTTPS))
