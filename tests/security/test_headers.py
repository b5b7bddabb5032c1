"""Security headers on every HTML page of both apps, pages without inline script, and the
stricter set on the JSON APIs' answers."""

from __future__ import annotations

import re
import time

from aiohttp import ClientResponse
from sec_helpers import dashboard_session, make_event, make_room

from fairgate import adminauth
from fairgate.tokens import Signer


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


async def _check_page(resp: ClientResponse, label: str) -> None:
    h = resp.headers
    csp = _directives(h.get("Content-Security-Policy", ""))
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src, label
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, label
    assert csp.get("frame-ancestors") == ["'none'"], label
    assert h.get("X-Content-Type-Options") == "nosniff", label
    # Admission tokens ride in URLs: no page may pass its URL on in a Referer. The operator
    # dashboard carries no token in its URL and names itself to its own site only
    # ("same-origin"): with "no-referrer" chromium sends "Origin: null" on its sign-in POST and
    # fetches, which the same-origin checks of cookie-borne writes must refuse.
    allowed = ("no-referrer", "same-origin") if label.startswith("admin") else ("no-referrer",)
    assert h.get("Referrer-Policy") in allowed, label
    if resp.status in (301, 302, 303, 307, 308):
        return
    assert resp.content_type == "text/html", label
    html = await resp.text()
    for tag in re.findall(r"<script\b[^>]*>", html, flags=re.I):
        assert "src=" in tag, f"{label}: inline script {tag}"
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), f"{label}: inline handler"


async def test_waiting_room_pages(start_wr, settings, admin_headers, room_name) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    await make_room(client, room_name + "-shut", admin_headers, state="closed")
    cookie, _ = dashboard_session(settings)
    pages = {
        "queue": (f"/r/{room_name}", {}),
        "closed": (f"/r/{room_name}-shut", {}),
        "unknown room": ("/r/no-such-room-here", {}),
        "bad room name": ("/r/Bad_Name", {}),
        "admin sign-in": ("/admin", {}),
        "admin dashboard": ("/admin", {"Cookie": f"{adminauth.COOKIE}={cookie}"}),
    }
    for label, (path, headers) in pages.items():
        resp = await client.get(path, headers=headers, allow_redirects=False)
        await _check_page(resp, label)


async def test_ticketing_pages(start_tk, settings, admin_headers, room_name) -> None:
    tk = await start_tk()
    event_id = await make_event(tk, room_name, admin_headers)
    signer = Signer(settings.secret_keys)
    token = signer.admission(room_name, "v" * 32, 1, time.time() + 300)
    enter = await tk.get("/enter", params={"token": token}, allow_redirects=False)
    assert enter.status == 303
    await _check_page(enter, "enter (the token is in this URL)")
    cookie = {"Cookie": f"tk_session={enter.cookies['tk_session'].value}"}
    pages = {
        "enter refused": ("/enter?token=forged", {}),
        "enter used": (f"/enter?token={token}", {}),
        "seat page": (f"/events/{event_id}", cookie),
        "seat page without session": (f"/events/{event_id}", {}),
    }
    for label, (path, headers) in pages.items():
        resp = await tk.get(path, headers=headers, allow_redirects=False)
        await _check_page(resp, label)


def _check_api(resp: ClientResponse, label: str) -> None:
    """A JSON answer is never a page: opened as a document, it may load nothing at all."""
    h = resp.headers
    assert resp.content_type in ("application/json", "text/event-stream"), label
    assert _directives(h.get("Content-Security-Policy", "")) == {
        "default-src": ["'none'"], "frame-ancestors": ["'none'"]}, label
    assert h.get("X-Content-Type-Options") == "nosniff", label
    assert h.get("Referrer-Policy") == "no-referrer", label
    assert h.get("X-Frame-Options") == "DENY", label


async def test_api_answers_of_both_apps(start_wr, start_tk, admin_headers, room_name) -> None:
    wr = await start_wr()
    await make_room(wr, room_name, admin_headers)
    joined = await wr.post(f"/api/rooms/{room_name}/join", json={})
    assert joined.status == 200
    ticket = (await joined.json())["ticket"]
    answers = {
        "join": joined,
        "status (the poll's own path)": await wr.get(
            f"/api/rooms/{room_name}/status", headers={"X-Queue-Ticket": ticket}),
        "status without a ticket (an error)": await wr.get(f"/api/rooms/{room_name}/status"),
        "admin room": await wr.get(f"/admin/api/rooms/{room_name}", headers=admin_headers),
        # No route: the catch-all route, which serves pages' paths too, answers these.
        "unknown API path (404)": await wr.get("/api/no-such-thing"),
        "unknown admin API path (404)": await wr.get("/admin/api/nothing-here",
                                                     headers=admin_headers),
        "API path, wrong method (405)": await wr.delete(f"/api/rooms/{room_name}/join"),
    }
    tk = await start_tk()
    event_id = await make_event(tk, room_name + "-tk", admin_headers)
    answers |= {
        "seat map": await tk.get(f"/api/events/{event_id}/seats"),
        "hold without a session (an error)": await tk.post(
            f"/api/events/{event_id}/holds", json={"seat_ids": [1]}),
        "admin report": await tk.get(f"/admin/api/events/{event_id}/report",
                                     headers=admin_headers),
    }
    for label, resp in answers.items():
        _check_api(resp, label)
        resp.release()
