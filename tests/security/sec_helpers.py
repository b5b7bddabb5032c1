"""Helpers of the security tests (fixtures live in conftest.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from fairgate import adminauth
from fairgate.config import Settings

StartApp = Callable[..., Awaitable[TestClient]]

# Where admitted visitors are sent in these tests (nothing listens there; nobody follows it).
TARGET_URL = "http://127.0.0.1:9/enter"


def dashboard_session(settings: Settings) -> tuple[str, adminauth.AdminSession]:
    """A dashboard sign-in with the admin token: the cookie's value and the session."""
    made = adminauth.new_session(settings, settings.admin_token)
    assert made is not None
    return made


def with_extra(settings: Settings, **extra: str) -> Settings:
    return dataclasses.replace(settings, extra={**settings.extra, **extra})


async def make_room(client: TestClient, room: str, admin_headers: dict[str, str],
                    **config: object) -> None:
    body = {"target_url": TARGET_URL, "admit_per_minute": 60, "max_active": 100,
            "session_ttl": 600, **config}
    resp = await client.put(f"/admin/api/rooms/{room}", json=body, headers=admin_headers)
    assert resp.status in (200, 201), await resp.text()


async def make_event(client: TestClient, room: str, admin_headers: dict[str, str]) -> int:
    body = {"name": f"Event {room}", "room": room, "per_visitor_limit": 4, "hold_ttl_s": 300,
            "sections": [{"name": "A", "rows": 1, "seats_per_row": 6, "price": 1000}]}
    resp = await client.post("/admin/api/events", json=body, headers=admin_headers)
    data = await resp.json()
    assert resp.status == 201, data
    return int(data["id"])
