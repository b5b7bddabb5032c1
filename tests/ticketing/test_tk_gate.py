"""Nobody buys without an admission token from the waiting room, and each token works once."""

from __future__ import annotations

import secrets
import time

import aiohttp
import pytest
from tk_helpers import Event, Tk

from fairgate.tokens import Signer


async def _try_everything(tk: Tk, event: Event, headers: dict[str, str]) -> list[int]:
    """Every seat endpoint with the given credentials; returns the statuses."""
    out = []
    for method, path, body in [
        ("GET", f"/api/events/{event.id}/seats", None),
        ("GET", f"/api/events/{event.id}/seats/stream", None),
        ("POST", f"/api/events/{event.id}/holds", {"seat_ids": event.seat_ids[:1]}),
        ("GET", "/api/bookings", None),
    ]:
        status, data = await tk.call(method, path, headers, json=body)
        if status == 401:
            assert data["error"] == "no_session"
        out.append(status)
    return out


async def test_no_session_is_refused_and_pages_go_to_the_queue(tk: Tk, tk_settings) -> None:
    event = await tk.create_event()
    before = await tk.snapshot(event)
    assert await _try_everything(tk, event, {}) == [401] * 4
    assert await _try_everything(tk, event, {"Authorization": "Bearer nonsense"}) == [401] * 4
    async with tk.http.get(tk.url(f"/events/{event.id}"), allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == f"{tk_settings.waitingroom_url}/r/{event.room}"
    assert await tk.snapshot(event) == before


def _old_admission(signer: Signer, room: str, age_s: float,
                   monkeypatch: pytest.MonkeyPatch) -> str:
    """A genuine token signed ``age_s`` seconds ago (itsdangerous stamps it with time.time)."""
    now = time.time()
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: now - age_s)
        return signer.admission(room, secrets.token_hex(16), 1, now + 600)


@pytest.mark.parametrize("kind", ["forged", "expired", "admission_over", "other_purpose",
                                  "garbage"])
async def test_bad_tokens_are_refused(tk: Tk, kind: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    event = await tk.create_event()
    token = {
        "forged": lambda: Signer(["an-attacker-key-0123456789"]).admission(
            event.room, "v", 1, time.time() + 600),
        "expired": lambda: _old_admission(tk.signer, event.room, 600, monkeypatch),
        "admission_over": lambda: tk.signer.admission(event.room, "v", 1, time.time() - 1),
        "other_purpose": lambda: tk.signer.ticket(event.room, "v", 1),
        "garbage": lambda: "x" * 5000,
    }[kind]()
    code = "token_expired" if kind in ("expired", "admission_over") else "invalid_token"
    before = await tk.snapshot(event)

    status, body = await tk.call("POST", "/api/session", json={"token": token})
    assert (status, body["error"]) == (401, code)
    async with tk.http.get(tk.url("/enter"), params={"token": token},
                           allow_redirects=False) as resp:
        assert resp.status == 401
        assert "tk_session" not in resp.cookies
        assert f'data-reason="{code}"' in await resp.text()
    assert await tk.snapshot(event) == before


async def test_a_token_works_once_even_from_another_client(tk: Tk) -> None:
    event = await tk.create_event()
    token = tk.token(event.room)
    async with tk.http.get(tk.url("/enter"), params={"token": token},
                           allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == f"/events/{event.id}"
        assert "token" not in resp.headers["Location"]
        cookie = resp.cookies["tk_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
    # A second browser with the copied link, and an API client with the same token.
    async with aiohttp.ClientSession() as other:
        async with other.get(tk.url("/enter"), params={"token": token},
                             allow_redirects=False) as resp:
            assert resp.status == 409
            page = await resp.text()
            assert 'data-reason="token_used"' in page
            assert f"/r/{event.room}" in page  # a way back to the queue
            assert "tk_session" not in resp.cookies
    status, body = await tk.call("POST", "/api/session", json={"token": token})
    assert (status, body["error"]) == (409, "token_used")


async def test_cookie_session_opens_the_seat_page(tk: Tk) -> None:
    event = await tk.create_event()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(tk.url("/enter"), params={"token": tk.token(event.room)}) as resp:
            assert resp.status == 200
            assert str(resp.url).endswith(f"/events/{event.id}")
            page = await resp.text()
            assert 'id="tk-app"' in page and f'data-event-id="{event.id}"' in page
            assert "<script>" not in page  # everything comes from /static (CSP)
        async with browser.get(tk.url(f"/api/events/{event.id}/seats")) as resp:
            assert resp.status == 200


async def test_token_of_another_room_opens_nothing_here(tk: Tk) -> None:
    event = await tk.create_event()
    other = await tk.create_event()
    # A room with no event at all.
    status, body = await tk.call("POST", "/api/session",
                                 json={"token": tk.token("no-such-room-" + event.room)})
    assert (status, body["error"]) == (404, "event_not_found")
    # A session of another event's room does not open this event.
    before = await tk.snapshot(event)
    other_headers = await tk.session(other.room)
    assert (await _try_everything(tk, event, other_headers))[:3] == [401] * 3
    async with tk.http.get(tk.url(f"/events/{event.id}"), headers=other_headers,
                           allow_redirects=False) as resp:
        assert resp.status == 303
    # Nor can it touch this event's holds.
    mine = await tk.session(event.room)
    status, hold = await tk.hold(event, mine, event.seat_ids[:1])
    assert status == 201
    status, body = await tk.confirm(hold["hold_id"], other_headers)
    assert (status, body["error"]) == (404, "hold_not_found")
    after = await tk.snapshot(event)
    assert after["bookings"] == before["bookings"] == []
