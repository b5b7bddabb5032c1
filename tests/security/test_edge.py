"""The edge every route is registered behind (fairgate.web.edge): answers no route takes (404,
405), static files, unhandled errors, all with the security headers, JSON on the API paths."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from promtext import samples_of, value
from yarl import URL

from fairgate.config import Settings
from fairgate.web import STATIC_DIR, add_routes, base_app


def _guarded(resp: Any) -> None:
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", "")
    assert resp.headers.get("Referrer-Policy") == "no-referrer"


async def _json_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"] == code and body["message"], body
    _guarded(resp)
    return body


def _count(scrape: str, app: str) -> float:
    return value(samples_of(scrape), "fairgate_http_request_duration_seconds_count",
                 app=app, route="unmatched", status="4xx")


@pytest.mark.parametrize(("app", "path", "wrong", "allowed"), [
    ("waitingroom", "/api/rooms/some-room/status", "DELETE", {"GET", "HEAD"}),
    ("ticketing", "/api/holds/12/confirm", "GET", {"POST"}),
])
async def test_paths_no_route_takes_are_404_or_405_with_the_edge(
    start_wr: Any, start_tk: Any, app: str, path: str, wrong: str, allowed: set[str],
) -> None:
    client: TestClient = await (start_wr if app == "waitingroom" else start_tk)()
    before = _count(await (await client.get("/metrics")).text(), app)

    await _json_error(await client.get("/api/no-such-thing"), 404, "not_found")
    await _json_error(await client.post("/admin/api/nothing/here", json={}), 404, "not_found")
    resp = await client.request(wrong, path)
    await _json_error(resp, 405, "method_not_allowed")
    assert set(resp.headers["Allow"].split(",")) == allowed
    # Outside the API, aiohttp's plain answer, with the same headers.
    page = await client.get("/no/such/page")
    assert page.status == 404 and page.content_type == "text/plain"
    _guarded(page)
    # The JSON form wherever the client asks for it.
    await _json_error(await client.get("/no/such/page", headers={"Accept": "application/json"}),
                      404, "not_found")

    after = _count(await (await client.get("/metrics")).text(), app)
    assert after - before == 5  # every one counted, under one route label


async def test_static_files_are_the_shipped_ones_and_nothing_else(start_wr: Any) -> None:
    client: TestClient = await start_wr()
    resp = await client.get("/static/queue.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    assert await resp.read() == (STATIC_DIR / "queue.css").read_bytes()
    _guarded(resp)
    again = await client.get("/static/queue.css",
                             headers={"If-Modified-Since": resp.headers["Last-Modified"]})
    assert again.status == 304
    head = await client.head("/static/queue.js")
    assert head.status == 200 and head.content_type in ("text/javascript",
                                                         "application/javascript")
    nested = await client.get("/static/vendor/uplot/uPlot.min.css")
    assert nested.status == 200 and nested.content_type == "text/css"

    for path in ("/static/vendor", "/static/vendor/", "/static/", "/static/nope.css",
                 "/static/%2e%2e/web.py", "/static/..%2fbase.html", "/static/%2Fetc%2Fpasswd"):
        refused = await client.get(URL(path, encoded=True))
        assert refused.status == 404, path
        _guarded(refused)


async def test_pages_name_an_icon_that_is_served(start_wr: Any, start_tk: Any) -> None:
    """Each page links its icon, so browsers do not probe /favicon.ico (a 404 and a console
    error on every first visit)."""
    for client, path in ((await start_wr(), "/admin"), (await start_tk(), "/enter")):
        page = await (await client.get(path)).text()
        match = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page)
        assert match, path
        icon = await client.get(match.group(1))
        assert icon.status == 200 and icon.content_type == "image/svg+xml"


async def test_an_unhandled_error_is_a_json_500_and_every_route_has_a_name(
    settings: Settings, serve_app: Any,
) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = base_app("waitingroom", settings)
    add_routes(app, [web.get("/api/boom", boom, name="boom")])
    with pytest.raises(ValueError, match="has no name"):
        add_routes(app, [web.get("/api/anonymous", boom)])
    client: TestClient = await serve_app(app)
    await _json_error(await client.get("/api/boom"), 500, "internal")
