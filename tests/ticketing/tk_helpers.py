"""Helpers of the ticketing tests: a fresh event per test, admission tokens minted exactly as
the waiting room mints them, and HTTP calls against the live app."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from fairgate.config import Settings
from fairgate.tokens import Signer


@dataclass
class Event:
    id: int
    room: str
    seat_ids: list[int]
    body: dict[str, Any]


class Tk:
    """Drives the live app over HTTP the way the waiting room, a browser or a client would."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, signer: Signer,
                 admin_headers: dict[str, str], db: asyncpg.Pool) -> None:
        self.base = str(server.make_url("")).rstrip("/")
        self.http = http
        self.signer = signer
        self.admin_headers = admin_headers
        self.db = db

    def url(self, path: str) -> str:
        return self.base + path

    async def create_event(self, *, limit: int = 4, ttl: int = 300,
                           sections: list[dict[str, Any]] | None = None,
                           **extra: Any) -> Event:
        room = f"tk{secrets.token_hex(5)}"
        body = {
            "name": f"Test event {room}",
            "room": room,
            "per_visitor_limit": limit,
            "hold_ttl_s": ttl,
            "sections": sections or [{"name": "A", "rows": 2, "seats_per_row": 10,
                                      "price": 5000}],
            **extra,
        }
        async with self.http.post(self.url("/admin/api/events"), json=body,
                                  headers=self.admin_headers) as resp:
            data = await resp.json()
            assert resp.status == 201, data
        rows = await self.db.fetch("SELECT id FROM seats WHERE event_id = $1 ORDER BY id",
                                   data["id"])
        return Event(data["id"], room, [r["id"] for r in rows], data)

    def token(self, room: str, visitor: str | None = None, expires_in: float = 600) -> str:
        """An admission token, minted as the waiting room mints it."""
        return self.signer.admission(room, visitor or secrets.token_hex(16), 1,
                                     time.time() + expires_in)

    async def session(self, room: str, visitor: str | None = None) -> dict[str, str]:
        """Bearer headers of a fresh admitted visitor."""
        async with self.http.post(self.url("/api/session"),
                                  json={"token": self.token(room, visitor)}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
        return {"Authorization": f"Bearer {data['session']}"}

    async def call(self, method: str, path: str, headers: dict[str, str] | None = None,
                   **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.url(path), headers=headers or {},
                                     **kw) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body

    async def hold(self, event: Event, headers: dict[str, str], seat_ids: list[int],
                   key: str | None = None) -> tuple[int, Any]:
        h = dict(headers)
        if key is not None:
            h["Idempotency-Key"] = key
        return await self.call("POST", f"/api/events/{event.id}/holds", h,
                               json={"seat_ids": seat_ids})

    async def confirm(self, hold_id: int, headers: dict[str, str]) -> tuple[int, Any]:
        return await self.call("POST", f"/api/holds/{hold_id}/confirm", headers)

    async def report(self, event: Event) -> dict[str, Any]:
        status, body = await self.call("GET", f"/admin/api/events/{event.id}/report",
                                       self.admin_headers)
        assert status == 200, body
        return body

    async def snapshot(self, event: Event) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the event, to show that a refused request changed nothing."""
        queries = {
            "seats": "SELECT id, status, hold_id, booking_id, visitor, version FROM seats "
                     "WHERE event_id = $1 ORDER BY id",
            "holds": "SELECT id, status, seat_ids FROM holds WHERE event_id = $1 ORDER BY id",
            "bookings": "SELECT id, status FROM bookings WHERE event_id = $1 ORDER BY id",
            "booking_seats": "SELECT bs.booking_id, bs.seat_id, bs.live FROM booking_seats bs "
                             "JOIN bookings b ON b.id = bs.booking_id WHERE b.event_id = $1 "
                             "ORDER BY 1, 2",
            "idempotency": "SELECT key, status FROM idempotency_keys WHERE event_id = $1 "
                           "ORDER BY key",
        }
        return {name: [tuple(r) for r in await self.db.fetch(sql, event.id)]
                for name, sql in queries.items()}


def tk_settings_for(settings: Settings, waitingroom_url: str, **extra: str) -> Settings:
    """The session settings with test-sized ticketing knobs."""
    knobs = {
        "TK_SWEEP_INTERVAL_S": "0.2",
        "TK_STREAM_COALESCE_MS": "200",
        "TK_STREAM_HEARTBEAT_S": "2",
        "TK_WAITINGROOM_TIMEOUT_S": "1",
        **extra,
    }
    return dataclasses.replace(
        settings, waitingroom_url=waitingroom_url, extra={**settings.extra, **knobs}
    )


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait up to 5 s for ``check()`` (something the app learns in the background, such as a
    seat notice); fail naming ``what``."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting until {what}")
