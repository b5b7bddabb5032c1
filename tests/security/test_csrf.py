"""Cross-site request forgery: a write that rides on cookies must come from our own pages;
writes proven by a header a foreign page cannot set pass; every cookie is SameSite."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis
from sec_helpers import dashboard_session, make_event, make_room

from fairgate import adminauth
from fairgate.tokens import Signer

EVIL = "https://evil.example"


async def _queued(redis_client: Redis, room: str) -> int:
    from waitingroom import keys

    return int(await redis_client.zcard(keys.RoomKeys(room).queue))


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Referer": EVIL + "/page"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
    {"Origin": "http://[::1"},  # no URL at all (urlsplit raises: a 500 once)
    {"Referer": "http://[x]/"},
])
async def test_a_cookie_write_from_another_site_is_refused_and_changes_nothing(
    start_wr, admin_headers, room_name, redis_client, headers
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    resp = await client.post(f"/api/rooms/{room_name}/join")
    cookie = f"wr_ticket_{room_name}={(await resp.json())['ticket']}"
    assert await _queued(redis_client, room_name) == 1

    resp = await client.post(f"/api/rooms/{room_name}/leave",
                             headers={"Cookie": cookie, **headers})
    body = await resp.json()
    assert (resp.status, body["error"]) == (403, "cross_site_request"), body
    assert await _queued(redis_client, room_name) == 1


async def test_own_pages_and_header_credentials_pass(
    start_wr, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    own = str(client.make_url("")).rstrip("/")
    tickets = []
    for _ in range(3):
        resp = await client.post(f"/api/rooms/{room_name}/join", cookies={})
        tickets.append((await resp.json())["ticket"])
        client.session.cookie_jar.clear()
    cookie = f"wr_ticket_{room_name}"
    for extra in ({"Origin": own, "Cookie": f"{cookie}={tickets[0]}"},
                  {"Referer": own + f"/r/{room_name}", "Cookie": f"{cookie}={tickets[1]}"},
                  # The ticket header is a credential no foreign page can set.
                  {"Origin": EVIL, "Cookie": "unrelated=1", "X-Queue-Ticket": tickets[2]}):
        resp = await client.post(f"/api/rooms/{room_name}/leave", headers=extra)
        assert resp.status == 200, await resp.text()
    assert await _queued(redis_client, room_name) == 0


async def test_admin_writes_with_the_dashboard_cookie_need_our_origin(
    start_wr, settings, admin_headers, room_name
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=5)
    value, session = dashboard_session(settings)
    cookie_auth = {"Cookie": f"{adminauth.COOKIE}={value}",
                   adminauth.CSRF_HEADER: session.csrf}
    own = str(client.make_url("")).rstrip("/")
    path = f"/admin/api/rooms/{room_name}"

    resp = await client.patch(path, json={"admit_per_minute": 99},
                              headers={**cookie_auth, "Origin": EVIL})
    assert resp.status == 403
    resp = await client.get(path, headers=admin_headers)
    assert (await resp.json())["admit_per_minute"] == 5

    # A bearer request is not forgeable, whatever else it carries.
    resp = await client.patch(path, json={"admit_per_minute": 7},
                              headers={**admin_headers, "Cookie": "x=1", "Origin": EVIL})
    assert resp.status == 200, await resp.text()
    resp = await client.patch(path, json={"admit_per_minute": 8},
                              headers={**cookie_auth, "Origin": own})
    assert resp.status == 200, await resp.text()


async def test_ticketing_cookie_writes_need_our_origin(
    start_tk, settings, admin_headers, room_name
) -> None:
    tk = await start_tk()
    event_id = await make_event(tk, room_name, admin_headers)
    token = Signer(settings.secret_keys).admission(room_name, "v" * 32, 1, time.time() + 300)
    resp = await tk.get("/enter", params={"token": token}, allow_redirects=False)
    assert resp.status == 303
    cookie = resp.cookies["tk_session"]
    assert cookie["samesite"] == "Lax" and cookie["httponly"]
    seats = await (await tk.get(f"/api/events/{event_id}/seats",
                                headers={"Cookie": f"tk_session={cookie.value}"})).json()
    seat = seats["seats"][0]["id"]
    jar = {"Cookie": f"tk_session={cookie.value}"}

    resp = await tk.post(f"/api/events/{event_id}/holds", json={"seat_ids": [seat]},
                         headers={**jar, "Origin": EVIL})
    assert (resp.status, (await resp.json())["error"]) == (403, "cross_site_request")
    resp = await tk.delete("/api/session", headers={**jar, "Origin": EVIL})
    assert resp.status == 403
    after = await (await tk.get(f"/api/events/{event_id}/seats", headers=jar)).json()
    assert after["seats"][0]["status"] == "free"

    own = str(tk.make_url("")).rstrip("/")
    resp = await tk.post(f"/api/events/{event_id}/holds", json={"seat_ids": [seat]},
                         headers={**jar, "Origin": own})
    assert resp.status == 201, await resp.text()


async def test_a_sign_in_from_an_origin_that_is_no_url_is_refused(start_wr) -> None:
    client = await start_wr()
    resp = await client.post("/admin/login", data={"token": "x"}, allow_redirects=False,
                             headers={"Origin": "http://[::1"})
    assert (resp.status, (await resp.json())["error"]) == (403, "csrf_failed")


async def test_every_cookie_is_samesite_and_httponly(
    start_wr, settings, admin_headers, room_name
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    set_cookies = []
    resp = await client.get(f"/r/{room_name}")
    set_cookies += resp.headers.getall("Set-Cookie", [])
    resp = await client.post(f"/api/rooms/{room_name}/join", cookies={})
    set_cookies += resp.headers.getall("Set-Cookie", [])
    resp = await client.post("/admin/login", data={"token": settings.admin_token},
                             allow_redirects=False)
    set_cookies += resp.headers.getall("Set-Cookie", [])
    assert len(set_cookies) == 3
    for header in set_cookies:
        assert "SameSite=" in header and "HttpOnly" in header, header


@pytest.mark.browser
async def test_a_real_foreign_page_cannot_make_the_browser_leave_the_queue(
    start_wr, browser, admin_headers, room_name, redis_client
) -> None:
    """Another origin on the same host (another port: same site, so the Lax cookie IS sent)
    submits a form to the leave endpoint in the visitor's browser."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    leave_url = str(client.make_url(f"/api/rooms/{room_name}/leave"))

    async def evil_page(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            f'<form id="f" method="post" action="{leave_url}"></form>'
            '<script>document.getElementById("f").submit()</script>'))

    evil = web.Application()
    evil.router.add_get("/", evil_page)
    evil_server = TestServer(evil, host="127.0.0.1")
    await evil_server.start_server()
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(str(client.make_url(f"/r/{room_name}")))
        assert await _queued(redis_client, room_name) == 1
        async with page.expect_response(leave_url) as answer:
            await page.goto(str(evil_server.make_url("/")))
        resp = await answer.value
        assert resp.status == 403
        assert (await resp.json())["error"] == "cross_site_request"
        assert await _queued(redis_client, room_name) == 1
        # The same write from the queue's own page is allowed (its Origin says so).
        await page.goto(str(client.make_url(f"/r/{room_name}")))
        status = await page.evaluate(
            """async (url) => (await fetch(url, {method: "POST"})).status""", leave_url)
        assert status == 200
        assert await _queued(redis_client, room_name) == 0
    finally:
        await context.close()
        await evil_server.close()
