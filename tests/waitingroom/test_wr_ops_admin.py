"""Operator tools of the waiting room: authentication on every admin route, the audit log,
the dashboard's session cookie and its CSRF rules, and knob changes seen at the next tick."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from wr_support import TARGET_URL, base_url, join, make_room

from fairgate.config import Settings
from fairgate.embedded import Backends

OPERATOR_TOKEN = "alice-operator-token-0123456789"


@pytest.fixture
async def ops_client(backends: Backends, settings: Settings) -> AsyncIterator[TestClient]:
    """A waiting room that also knows a named operator (ADMIN_OPERATORS)."""
    from waitingroom.app import create_app

    tuned = dataclasses.replace(settings, admin_operators={"alice": OPERATOR_TOKEN},
                                extra={**settings.extra, "WR_LAPSE_S": "3600"})
    client = TestClient(TestServer(create_app(tuned, backends.redis_url or ""),
                                   host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def _admin_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every route under /admin, from the live route table."""
    found = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/admin") or route.method == "HEAD":
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "x-room", path)))
    return found


async def test_every_admin_route_refuses_without_a_valid_token(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers)
    routes = _admin_routes(client)
    # The table really was read: the API, the audit log and the sign-out are all there.
    paths = {p for _, p in routes}
    assert {"/admin/api/rooms", "/admin/api/rooms/x-room", "/admin/api/audit",
            "/admin/logout"} <= paths
    # The dashboard page and the sign-in form are public: they hold no data.
    public = {("GET", "/admin"), ("POST", "/admin/login")}
    for method, path in routes:
        if (method, path) in public:
            continue
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abc"},
                        {"Authorization": "Basic " + admin_headers["Authorization"][7:]},
                        {"Cookie": "fg_admin=forged.value.here"}):
            resp = await client.request(method, path, headers=headers, json={})
            body = await resp.json()
            assert resp.status == 401, (method, path, headers, body)
            assert body["error"] == "unauthorized"
    page = await client.get("/admin")
    assert page.status == 200 and 'id="dashboard"' not in await page.text()
    # Nothing was changed by all of that.
    room = await (await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)).json()
    assert room["admit_per_minute"] == 60


async def test_every_change_is_audited_with_who_when_old_new(
    ops_client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    client = ops_client
    alice = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    await make_room(client, room_name, admin_headers, admit_per_minute=60)
    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=alice,
                              json={"admit_per_minute": 600, "state": "paused"})
    assert resp.status == 200
    # A refused change (one bad field among good ones) changes nothing and is not recorded.
    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=alice,
                              json={"admit_per_minute": 5, "session_ttl": 0})
    assert resp.status == 422 and (await resp.json())["field"] == "session_ttl"
    resp = await client.put(f"/admin/api/rooms/{room_name}", headers=alice,
                            json={"target_url": "javascript:alert(1)"})
    assert resp.status == 422 and (await resp.json())["field"] == "target_url"

    ticket = await join(client, "", room_name)
    assert ticket["number"] == 1
    # The ticketing app's routine departure call is logged, not audited; an operator's is.
    assert (await client.delete(f"/admin/api/rooms/{room_name}/active/v1", headers={
        **admin_headers, "X-Fairgate-Departure": "1"})).status == 204
    assert (await client.delete(f"/admin/api/rooms/{room_name}/active/v2",
                                headers=alice)).status == 204
    assert (await client.delete(f"/admin/api/rooms/{room_name}", headers=alice)).status == 204

    resp = await client.get("/admin/api/audit?limit=1000", headers=admin_headers)
    entries = [e for e in (await resp.json())["entries"] if e["target"].startswith(room_name)]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("alice", "room.delete"), ("alice", "visitor.remove"), ("alice", "room.update"),
        ("admin", "room.create"),
    ]
    delete, removal, update, create = entries
    assert update["old"] == {"admit_per_minute": 60, "state": "open"}
    assert update["new"] == {"admit_per_minute": 600, "state": "paused"}
    assert create["old"] is None and create["new"]["target_url"] == TARGET_URL
    assert delete["old"]["admit_per_minute"] == 600 and delete["new"] is None
    assert removal["target"] == f"{room_name}/v2"
    assert all(e["ts"] >= c["ts"] for e, c in itertools.pairwise(entries))
    text = await resp.text()
    assert OPERATOR_TOKEN not in text and admin_headers["Authorization"][7:] not in text

    # "²" and "٣" are digits to str.isdigit(); int() refuses the first and reads the second.
    for bad in ("0", "1001", "x", "-1", "²", "٣"):
        resp = await client.get("/admin/api/audit", params={"limit": bad},
                                headers=admin_headers)
        assert resp.status == 422 and (await resp.json())["field"] == "limit"


async def test_dashboard_session_cookie_and_csrf(
    ops_client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    client = ops_client
    await make_room(client, room_name, admin_headers)
    origin = base_url(client)
    resp = await client.post("/admin/login", data={"token": "wrong-token-0123456789abc"},
                             headers={"Origin": origin})
    assert resp.status == 401 and "refused" in await resp.text()
    assert "fg_admin" not in resp.cookies
    resp = await client.post("/admin/login", data={"token": OPERATOR_TOKEN},
                             headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post("/admin/login", data={"token": OPERATOR_TOKEN},
                             headers={"Origin": origin}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/admin"
    raw = resp.headers["Set-Cookie"]
    assert "HttpOnly" in raw and "SameSite=Strict" in raw and "Path=/admin" in raw
    assert OPERATOR_TOKEN not in raw
    cookie = {"Cookie": f"fg_admin={resp.cookies['fg_admin'].value}"}

    page = await (await client.get("/admin", headers=cookie)).text()
    csrf = re.search(r'data-csrf="([^"]+)"', page)
    assert csrf and "alice" in page
    ok = await client.get(f"/admin/api/rooms/{room_name}", headers=cookie)
    assert ok.status == 200  # reads need no CSRF value

    url = f"/admin/api/rooms/{room_name}"
    refused = [
        ({**cookie}, "no CSRF header"),
        ({**cookie, "X-CSRF-Token": "guess"}, "wrong CSRF value"),
        ({**cookie, "X-CSRF-Token": csrf.group(1), "Origin": "https://evil.example"},
         "foreign origin"),
    ]
    for headers, why in refused:
        resp = await client.patch(url, headers=headers, json={"admit_per_minute": 1})
        assert resp.status == 403, why
        # fairgate.guard refuses a foreign Origin before the admin check sees it.
        assert (await resp.json())["error"] in ("csrf_failed", "cross_site_request")
    resp = await client.patch(url, json={"admit_per_minute": 7}, headers={
        **cookie, "X-CSRF-Token": csrf.group(1), "Origin": origin})
    assert resp.status == 200 and (await resp.json())["admit_per_minute"] == 7
    entries = (await (await client.get("/admin/api/audit", headers=cookie)).json())["entries"]
    assert entries[0]["actor"] == "alice" and entries[0]["new"] == {"admit_per_minute": 7}

    resp = await client.post("/admin/logout", headers={**cookie, "X-CSRF-Token": csrf.group(1)})
    assert resp.status == 200 and "fg_admin=\"\"" in resp.headers["Set-Cookie"]


async def test_the_knob_applies_at_the_next_tick_and_shows_in_stats(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0, max_active=1000)
    for _ in range(20):  # twenty visitors, each without cookies
        await join(anon, base_url(client), room_name)
    stats_url = f"/admin/api/rooms/{room_name}/stats"
    stats = await (await client.get(stats_url, headers=admin_headers)).json()
    assert stats["queue_length"] == 20 and stats["serving"] == 0
    assert stats["last_wait_s"] is None  # paused: nobody's turn comes
    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                              json={"admit_per_minute": 60_000})
    assert resp.status == 200
    stats = await (await client.get(stats_url, headers=admin_headers)).json()
    assert stats["admit_per_minute"] == 60_000
    for _ in range(100):  # the background timer ticks every 100 ms here
        stats = await (await client.get(stats_url, headers=admin_headers)).json()
        if stats["serving"] > 0:
            break
        await asyncio.sleep(0.05)
    assert stats["serving"] > 0 and stats["active"] == stats["serving"]
    assert stats["queue_length"] == 20 - stats["serving"]
