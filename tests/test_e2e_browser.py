"""The whole product in a real browser: queue page -> admitted -> seat page -> hold -> confirm,
with both apps on real ports, real Redis and real PostgreSQL, and the slot freed in the room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from fairgate.config import Settings
from fairgate.embedded import Backends, free_port

pytestmark = pytest.mark.browser


@dataclass
class Product:
    waitingroom: str
    ticketing: str
    http: aiohttp.ClientSession
    admin: dict[str, str]

    async def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, url, json=body, headers=self.admin) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def product(
    backends: Backends, settings_with: Callable[..., Settings], admin_headers: dict[str, str]
) -> AsyncIterator[Product]:
    from ticketing.app import create_app as ticketing_app
    from waitingroom.app import create_app as waitingroom_app

    wr_port, tk_port = free_port(), free_port()
    settings = settings_with(
        WAITINGROOM_URL=f"http://127.0.0.1:{wr_port}",
        TICKETING_URL=f"http://127.0.0.1:{tk_port}",
    )
    servers = [
        TestServer(waitingroom_app(settings, backends.redis_url or ""), host="127.0.0.1",
                   port=wr_port),
        TestServer(ticketing_app(settings, backends.database_url or ""), host="127.0.0.1",
                   port=tk_port),
    ]
    for server in servers:
        await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Product(settings.waitingroom_url, settings.ticketing_url, http, admin_headers)
    for server in servers:
        await server.close()


async def test_queue_to_purchase_in_a_browser(
    browser: Any, product: Product, room_name: str, artifacts: Path
) -> None:
    status, _ = await product.call("PUT", f"{product.waitingroom}/admin/api/rooms/{room_name}", {
        "admit_per_minute": 0,  # paused at first, so the page is seen waiting
        "max_active": 5,
        "session_ttl": 600,
        "target_url": f"{product.ticketing}/enter",
        "state": "open",
    })
    assert status in (200, 201)
    status, event = await product.call("POST", f"{product.ticketing}/admin/api/events", {
        "name": "End-to-end concert",
        "room": room_name,
        "per_visitor_limit": 2,
        "hold_ttl_s": 300,
        "sections": [{"name": "A", "rows": 2, "seats_per_row": 8, "price": 5000}],
    })
    assert status == 201, event
    event_id = event["id"]

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{product.waitingroom}/r/{room_name}")
    body = await page.text_content("body")
    assert body is not None and "1" in body
    await page.screenshot(path=str(artifacts / "e2e-1-queue.png"), full_page=True)

    # The operator turns the knob; the page takes the visitor in by itself.
    status, _ = await product.call(
        "PATCH", f"{product.waitingroom}/admin/api/rooms/{room_name}", {"admit_per_minute": 600}
    )
    assert status == 200
    await page.wait_for_url(f"{product.ticketing}/events/{event_id}", timeout=30_000)
    assert "token=" not in page.url  # the admission token left the address bar
    await page.wait_for_selector(".tk-seat")
    status, stats = await product.call(
        "GET", f"{product.waitingroom}/admin/api/rooms/{room_name}/stats"
    )
    assert status == 200 and stats["active"] == 1

    seats = await page.query_selector_all('.tk-seat[data-status="free"]')
    first_id = await seats[0].get_attribute("data-id")
    await seats[0].click()
    await page.click("#tk-hold")
    await page.wait_for_selector("#tk-held:not(.hidden)")
    await page.screenshot(path=str(artifacts / "e2e-2-held.png"), full_page=True)
    await page.click("#tk-confirm")
    await page.wait_for_selector(".tk-booking")
    await page.wait_for_selector(f'.tk-seat[data-id="{first_id}"][data-status="sold"]')
    await page.screenshot(path=str(artifacts / "e2e-3-booked.png"), full_page=True)

    status, report = await product.call(
        "GET", f"{product.ticketing}/admin/api/events/{event_id}/report"
    )
    assert status == 200
    assert report["seats"]["sold"] == 1 and report["booked_seats"] == 1 and report["consistent"]

    # Buying told the waiting room: the admission slot is free again for the next visitor.
    for _ in range(50):
        status, stats = await product.call(
            "GET", f"{product.waitingroom}/admin/api/rooms/{room_name}/stats"
        )
        if stats["active"] == 0:
            break
        await asyncio.sleep(0.1)
    assert stats["active"] == 0
    await context.close()
    assert errors == []
