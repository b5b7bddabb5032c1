"""The operator dashboard in Debian chromium: sign-in, charts drawn by the shipped uPlot, the
knob applied at the next tick and visible on the chart, pause, and the audit log."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from wr_support import base_url, join, make_room, status

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Pixels of a canvas that are not transparent: proves the chart drew its lines.
PAINTED = """(sel) => {
  const c = document.querySelector(sel + ' canvas');
  if (!c) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


async def _keep_polling(anon: ClientSession, base: str, room: str, tickets: list[str]) -> None:
    """Waiting visitors keep polling (so admissions and the polling chart move)."""
    while True:
        for ticket in tickets:
            with contextlib.suppress(AssertionError):
                await status(anon, base, room, ticket)
        await asyncio.sleep(0.3)


async def test_dashboard_signs_in_draws_charts_and_turns_the_knob(
    browser: Any, client: TestClient, anon: ClientSession, room_name: str,
    admin_headers: dict[str, str], artifacts: Path,
) -> None:
    base = base_url(client)
    await make_room(client, room_name, admin_headers, admit_per_minute=60, max_active=500)
    tickets = [(await join(anon, base, room_name))["ticket"] for _ in range(30)]
    poller = asyncio.create_task(_keep_polling(anon, base, room_name, tickets))
    context = await browser.new_context(viewport=DESKTOP, locale="en")
    page = await context.new_page()
    problems: list[str] = []
    # The "what if" preview is optional (shown only when the server answers it); any other
    # failed request or script error is a fault.
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/preview" not in r.url and "/admin/login" not in r.url
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    try:
        await page.goto(f"{base}/admin")
        await page.fill("#token", "not-the-token-0123456789")
        await page.click("#login button")
        assert "refused" in (await page.text_content("#login .notice") or "")

        await page.fill("#token", admin_headers["Authorization"].split()[1])
        await page.click("#login button")
        await page.wait_for_selector(f'tr[data-room="{room_name}"]')
        # The row says how the room admits, under its own heading.
        assert await page.text_content(f'tr[data-room="{room_name}"] td.mode') == "fifo"
        headings = await page.eval_on_selector_all("table.rooms th",
                                                   "ths => ths.map(t => t.textContent)")
        assert headings[:3] == ["Room", "State", "Mode"], headings
        cookie = next(c for c in await context.cookies() if c["name"] == "fg_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert admin_headers["Authorization"].split()[1] not in cookie["value"]

        await page.click(f'tr[data-room="{room_name}"]')
        await page.wait_for_selector("#chart-rate canvas")
        # A few points: the measured rate line and the knob line have something to draw.
        await page.wait_for_function(
            "() => document.querySelectorAll('#audit-rows tr').length > 0")
        # The measured rate appears once admissions have run for a while (admission.py's
        # MIN_RATE_SPAN_S); then every chart has lines to draw.
        await page.wait_for_function(
            "() => !document.querySelector('#now-rate').textContent.startsWith('–')",
            timeout=25_000)
        for chart in ("queue", "rate", "active", "wait", "polls"):
            assert await page.evaluate(PAINTED, f"#chart-{chart}") > 500, chart

        # A refused value: the message says what is wrong, naming the field once.
        await page.fill("#knob", "2000000")
        await page.click("#knob-form button")
        await page.wait_for_selector("#notice.notice-bad")
        refused = await page.text_content("#notice") or ""
        assert refused.count("admit_per_minute") == 1 and "between" in refused, refused
        problems.remove(f"422 {base}/admin/api/rooms/{room_name}")  # that refusal, expected
        await page.fill("#knob", "240")
        # The "what if" preview answers before the change is applied.
        await page.wait_for_function(
            "() => document.querySelector('#preview-text').textContent.includes('At 240/min')")
        assert not await page.is_hidden("#preview")
        await page.click("#knob-form button")
        await page.wait_for_selector("#notice.notice-ok")
        assert "next admission tick" in (await page.text_content("#notice") or "")
        room = await (await client.get(f"/admin/api/rooms/{room_name}",
                                       headers=admin_headers)).json()
        assert room["admit_per_minute"] == 240
        # At the next refresh the chart's knob series steps to the new value.
        await page.wait_for_function(
            "() => document.querySelector('#chart-rate').dataset.knob === '240'")
        await page.wait_for_selector("#audit-rows tr:first-child")
        first = await page.text_content("#audit-rows tr:first-child") or ""
        assert "admin" in first and "admit_per_minute: 60 → 240" in first
        # Every cell of an audit row is a table cell (a "who" cell once took the signed-in
        # bar's flex layout, and the row's cells no longer lined up).
        displays = await page.eval_on_selector_all(
            "#audit-rows tr:first-child td", "cells => cells.map(c => getComputedStyle(c).display)")
        assert displays == ["table-cell"] * 4, displays
        await asyncio.sleep(1)  # one more point: the knob's step shows on the chart
        await page.screenshot(path=str(artifacts / "admin-dashboard-desktop-en.png"),
                              full_page=True)

        await page.click('.state-buttons [data-state="paused"]')
        await page.wait_for_selector("#room-state.pill-paused")
        room = await (await client.get(f"/admin/api/rooms/{room_name}",
                                       headers=admin_headers)).json()
        assert room["state"] == "paused"

        await page.set_viewport_size(PHONE)
        await asyncio.sleep(0.5)
        await page.screenshot(path=str(artifacts / "admin-dashboard-phone-en.png"),
                              full_page=True)
        assert not problems, problems
        assert not outside, outside  # nothing from another site: it works offline

        await page.click("#logout")
        await page.wait_for_selector("#login")
        await page.screenshot(path=str(artifacts / "admin-login-phone-en.png"))
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await context.close()
