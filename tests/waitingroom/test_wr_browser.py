"""The queue page in a real browser (Debian chromium through Playwright)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from wr_support import base_url, join, make_room

from fairgate.tokens import Signer

pytestmark = pytest.mark.browser

SECRET = "test-newest-key-0123456789abcdef"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


async def _enter(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    return web.Response(text=f"<!doctype html><title>entered</title><p id=token>{token}</p>",
                        content_type="text/html")


@pytest.fixture
async def target() -> AsyncIterator[str]:
    """Where admitted visitors land: echoes the admission token."""
    app = web.Application()
    app.router.add_get("/enter", _enter)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/enter"))
    await server.close()


async def _crowd(anon: ClientSession, client: TestClient, room: str, n: int) -> None:
    for _ in range(n):
        await join(anon, base_url(client), room)


async def _page(browser: Any, *, viewport: dict[str, int], lang: str) -> Any:
    context = await browser.new_context(
        viewport=viewport, locale=lang, extra_http_headers={"Accept-Language": lang}
    )
    return await context.new_page()


async def test_a_visitor_waits_sees_the_place_and_lands_on_the_target(
    browser: Any, client: TestClient, anon: ClientSession, target: str, room_name: str,
    admin_headers: dict[str, str], artifacts: Path,
) -> None:
    await make_room(client, room_name, admin_headers, target_url=target, admit_per_minute=30)
    await _crowd(anon, client, room_name, 2)
    page = await _page(browser, viewport=DESKTOP, lang="en")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)

    await page.goto(f"{base_url(client)}/r/{room_name}")
    assert await page.text_content("#number") == "3"
    ahead = await page.text_content("#ahead")
    assert ahead in ("2 people", "1 person", "You're next")
    await page.screenshot(path=str(artifacts / "queue-admission-waiting.png"))

    await page.wait_for_url(f"{target}?token=*", timeout=15_000)
    token = await page.text_content("#token")
    admission = Signer((SECRET,)).load_admission(token)
    assert (admission.room, admission.number) == (room_name, 3)
    await page.screenshot(path=str(artifacts / "queue-admission-landed.png"))
    assert errors == []
    await page.context.close()


async def test_screenshots_desktop_phone_english_korean_reconnecting(
    browser: Any, client: TestClient, anon: ClientSession, target: str, room_name: str,
    admin_headers: dict[str, str], artifacts: Path,
) -> None:
    base = base_url(client)
    await make_room(client, room_name, admin_headers, target_url=target, admit_per_minute=6)
    await _crowd(anon, client, room_name, 40)

    for lang, viewport, name in (("en", DESKTOP, "desktop-en"), ("ko", PHONE, "phone-ko"),
                                 ("en", PHONE, "phone-en"), ("ko", DESKTOP, "desktop-ko")):
        page = await _page(browser, viewport=viewport, lang=lang)
        await page.goto(f"{base}/r/{room_name}")
        assert await page.is_visible("#number")
        assert await page.get_attribute("html", "lang") == lang
        text = await page.text_content("body")
        assert ("Your number" in text) == (lang == "en")
        assert ("내 번호" in text) == (lang == "ko")
        await page.screenshot(path=str(artifacts / f"queue-{name}.png"), full_page=True)
        await page.context.close()

    # The server stops answering: the page says so, backs off, and recovers by itself.
    for lang, viewport, name in (("en", PHONE, "phone-en"), ("ko", DESKTOP, "desktop-ko")):
        page = await _page(browser, viewport=viewport, lang=lang)
        await page.clock.install()
        await page.goto(f"{base}/r/{room_name}")
        assert await page.is_hidden("#reconnecting")
        number_before = await page.text_content("#number")
        await page.route("**/api/rooms/*/status", lambda route: route.abort())
        await page.clock.fast_forward(31_000)  # past the longest poll_after_ms
        await page.wait_for_selector("#reconnecting", state="visible", timeout=5_000)
        await page.screenshot(path=str(artifacts / f"queue-reconnecting-{name}.png"),
                              full_page=True)
        await page.unroute("**/api/rooms/*/status")
        await page.clock.fast_forward(31_000)  # past the longest back-off
        await page.wait_for_selector("#reconnecting", state="hidden", timeout=5_000)
        assert await page.text_content("#number") == number_before
        await page.context.close()

    # Before a scheduled opening: the countdown.
    soon = room_name + "-soon"
    await make_room(client, soon, admin_headers, target_url=target,
                    opens_at=time.time() + 3725)
    page = await _page(browser, viewport=PHONE, lang="en")
    await page.goto(f"{base}/r/{soon}")
    assert (await page.text_content("#countdown")).startswith("01:02:")
    assert await page.text_content("#heading") == "You're early"  # nobody is in line yet
    assert await page.is_hidden("#numbered")
    await page.screenshot(path=str(artifacts / "queue-countdown-phone-en.png"), full_page=True)
    await page.context.close()


async def test_an_early_visitor_gets_a_number_at_the_opening(
    browser: Any, client: TestClient, target: str, room_name: str,
    admin_headers: dict[str, str],
) -> None:
    """The page of someone who came before the opening counts down, then shows the number
    drawn for them, with the heading of someone in line, without a reload."""
    await make_room(client, room_name, admin_headers, target_url=target, admit_per_minute=0,
                    opens_at=time.time() + 3)
    page = await _page(browser, viewport=PHONE, lang="en")
    await page.goto(f"{base_url(client)}/r/{room_name}")
    assert await page.text_content("#heading") == "You're early"
    assert await page.is_hidden("#numbered")
    await page.wait_for_selector("#numbered", state="visible", timeout=15_000)
    assert await page.text_content("#heading") == "You're in line"
    assert await page.text_content("#number") == "1"
    assert await page.is_hidden("#prequeue")
    await page.context.close()


async def test_without_javascript_the_page_shows_the_place_and_refreshes(
    browser: Any, client: TestClient, anon: ClientSession, target: str, room_name: str,
    admin_headers: dict[str, str], artifacts: Path,
) -> None:
    await make_room(client, room_name, admin_headers, target_url=target, admit_per_minute=0)
    await _crowd(anon, client, room_name, 4)
    context = await browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = await context.new_page()
    await page.goto(f"{base_url(client)}/r/{room_name}")
    assert await page.text_content("#number") == "5"
    assert "4 people" in await page.text_content("#ahead")
    html = await page.content()
    assert 'http-equiv="refresh"' in html
    # The refresh really happens, and keeps the same number (the cookie).
    async with page.expect_navigation(timeout=20_000):
        pass
    assert await page.text_content("#number") == "5"
    await page.screenshot(path=str(artifacts / "queue-nojs-phone-en.png"), full_page=True)
    await context.close()
