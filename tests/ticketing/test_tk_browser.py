"""A real browser: admitted visitor enters, holds a seat, buys it; another browser sees the seat
turn sold without reloading. Screenshots (desktop and phone, English and Korean) are saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tk_helpers import Event, Tk

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


async def _page(browser: Any, tk: Tk, event: Event, lang: str, viewport: dict[str, int],
                errors: list[str]) -> Any:
    context = await browser.new_context(
        viewport=viewport, locale="ko-KR" if lang == "ko" else "en-US",
        extra_http_headers={"Accept-Language": lang}, is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    page = await context.new_page()
    # Failed loads are checked by URL below (the browser's own /favicon.ico probe is fine).
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(tk.url(f"/enter?token={tk.token(event.room)}"))
    assert page.url == tk.url(f"/events/{event.id}")  # the token left the address bar
    await page.wait_for_selector(".tk-seat")
    await page.wait_for_selector('#tk-live[data-state="live"]')
    return page


async def test_buy_a_seat_and_watch_it_sell_elsewhere(
    browser: Any, tk: Tk, artifacts: Path
) -> None:
    event = await tk.create_event(limit=4, ttl=300, currency="USD", sections=[
        {"name": "A", "rows": 4, "seats_per_row": 12, "price": 9500},
        {"name": "B", "rows": 3, "seats_per_row": 10, "price": 6000},
    ])
    # Other buyers: some seats sold, some on hold, so every state shows on the map.
    other = await tk.session(event.room)
    status, hold = await tk.hold(event, other, event.seat_ids[4:7])
    assert status == 201
    assert (await tk.confirm(hold["hold_id"], other))[0] == 201
    assert (await tk.hold(event, await tk.session(event.room), event.seat_ids[20:22]))[0] == 201

    errors: list[str] = []
    buyer = await _page(browser, tk, event, "en", DESKTOP, errors)
    watcher = await _page(browser, tk, event, "ko", PHONE, errors)
    target = event.seat_ids[30]
    seat = f'.tk-seat[data-id="{target}"]'
    assert await watcher.get_attribute(seat, "data-status") == "free"

    await buyer.click(seat)
    picked = f'.tk-seat[data-id="{event.seat_ids[31]}"]'
    await buyer.click(picked)
    assert await buyer.get_attribute(seat, "aria-pressed") == "true"
    # The seat still under the pointer (on a phone, the one just tapped) looks picked too.
    fills = [await buyer.eval_on_selector(s, "e => getComputedStyle(e).backgroundColor")
             for s in (seat, picked)]
    assert fills[0] == fills[1], fills
    assert "2" in await buyer.text_content("#tk-count")
    await buyer.screenshot(path=str(artifacts / "tk-desktop-en-selected.png"), full_page=True)
    await buyer.click("#tk-hold")
    await buyer.wait_for_selector("#tk-held:not(.hidden)")
    countdown = await buyer.text_content("#tk-countdown")
    assert countdown and countdown.startswith(("4:", "5:"))
    await watcher.wait_for_selector(f'{seat}[data-status="held"]')
    await buyer.screenshot(path=str(artifacts / "tk-desktop-en-held.png"), full_page=True)

    await buyer.click("#tk-confirm")
    await buyer.wait_for_selector("#tk-notice.notice-ok")
    await buyer.wait_for_selector(".tk-booking")
    # The other browser sees it sold, live, without a reload.
    await watcher.wait_for_selector(f'{seat}[data-status="sold"]')
    await buyer.screenshot(path=str(artifacts / "tk-desktop-en-booked.png"), full_page=True)
    await watcher.screenshot(path=str(artifacts / "tk-phone-ko-live.png"), full_page=True)

    report = await tk.report(event)
    assert report["seats"]["sold"] == 5 and report["booked_seats"] == 5 and report["consistent"]

    # Cancelling from "my bookings" puts the seats back on sale, live, for the other browser.
    await buyer.click(".tk-booking .tk-cancel")
    await buyer.wait_for_selector(".tk-booking-cancelled")
    await watcher.wait_for_selector(f'{seat}[data-status="free"]')
    await buyer.screenshot(path=str(artifacts / "tk-desktop-en-cancelled.png"), full_page=True)
    report = await tk.report(event)
    assert report["seats"]["sold"] == 3 and report["booked_seats"] == 3 and report["consistent"]

    # A seat taken a moment earlier: the watcher picks a seat, someone else holds it first.
    contested = event.seat_ids[40]
    await watcher.click(f'.tk-seat[data-id="{contested}"]')
    assert (await tk.hold(event, await tk.session(event.room), [contested]))[0] == 201
    await watcher.wait_for_selector("#tk-notice.notice-bad")
    assert await watcher.get_attribute(f'.tk-seat[data-id="{contested}"]',
                                       "aria-pressed") == "false"
    await watcher.screenshot(path=str(artifacts / "tk-phone-ko-taken.png"), full_page=True)

    # The other two language/size pairs, for the record.
    ko_desktop = await _page(browser, tk, event, "ko", DESKTOP, errors)
    await ko_desktop.click(f'.tk-seat[data-id="{event.seat_ids[50]}"]')
    await ko_desktop.screenshot(path=str(artifacts / "tk-desktop-ko.png"), full_page=True)
    en_phone = await _page(browser, tk, event, "en", PHONE, errors)
    await en_phone.click(f'.tk-seat[data-id="{event.seat_ids[60]}"]')
    await en_phone.click("#tk-hold")
    await en_phone.wait_for_selector("#tk-held:not(.hidden)")
    await en_phone.screenshot(path=str(artifacts / "tk-phone-en-held.png"), full_page=True)
    # The phone layout does not scroll sideways.
    width = await en_phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]

    for page in (buyer, watcher, ko_desktop, en_phone):
        await page.context.close()
    assert errors == []


async def test_a_copied_link_shows_a_clear_refusal(browser: Any, tk: Tk, artifacts: Path) -> None:
    event = await tk.create_event()
    token = tk.token(event.room)
    status, _ = await tk.call("POST", "/api/session", json={"token": token})
    assert status == 200
    context = await browser.new_context(viewport=PHONE, locale="ko-KR",
                                        extra_http_headers={"Accept-Language": "ko"})
    page = await context.new_page()
    response = await page.goto(tk.url(f"/enter?token={token}"))
    assert response is not None and response.status == 409
    await page.wait_for_selector('[data-reason="token_used"]')
    link = await page.get_attribute("a.btn", "href")
    assert link is not None and link.endswith(f"/r/{event.room}")
    await page.screenshot(path=str(artifacts / "tk-phone-ko-refused.png"), full_page=True)
    await context.close()


async def test_a_hall_wider_than_the_phone_says_it_scrolls(
    browser: Any, tk: Tk, artifacts: Path
) -> None:
    """Seats stop shrinking at 18px: a 30-seat row is wider than a phone, and the page says
    the map scrolls sideways; on a desktop, where it fits, it says nothing."""
    wide = await tk.create_event(sections=[
        {"name": "A", "rows": 3, "seats_per_row": 30, "price": 5000},
    ])
    errors: list[str] = []
    page = await _page(browser, tk, wide, "en", PHONE, errors)
    assert await page.is_visible("#tk-scroll-hint")
    assert "Swipe sideways" in await page.text_content("#tk-scroll-hint")
    await page.screenshot(path=str(artifacts / "tk-phone-en-wide-hall.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)
    await page.wait_for_selector("#tk-scroll-hint", state="hidden")
    await page.context.close()

    narrow = await tk.create_event(sections=[
        {"name": "A", "rows": 3, "seats_per_row": 12, "price": 5000},
    ])
    page = await _page(browser, tk, narrow, "en", PHONE, errors)
    assert await page.is_hidden("#tk-scroll-hint")
    await page.context.close()
    assert errors == []
