"""Helpers shared by the waiting-room tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

# The project root (for subprocesses started with ``python -m``).
ROOT = str(Path(__file__).resolve().parents[2])

StartApp = Callable[..., Awaitable[TestClient]]

TARGET_URL = "http://127.0.0.1:9/enter"


async def make_room(
    client: TestClient, room: str, admin_headers: dict[str, str], **config: Any
) -> dict[str, Any]:
    body = {"target_url": TARGET_URL, "admit_per_minute": 60, "max_active": 100,
            "session_ttl": 600, **config}
    resp = await client.put(f"/admin/api/rooms/{room}", json=body, headers=admin_headers)
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def join(session: ClientSession | TestClient, base: str, room: str,
               ticket: str | None = None) -> dict[str, Any]:
    headers = {"X-Queue-Ticket": ticket} if ticket else {}
    async with session.post(f"{base}/api/rooms/{room}/join", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def status(session: ClientSession | TestClient, base: str, room: str,
                 ticket: str) -> dict[str, Any]:
    async with session.get(
        f"{base}/api/rooms/{room}/status", headers={"X-Queue-Ticket": ticket}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def base_url(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")
