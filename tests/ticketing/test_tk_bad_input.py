"""Bad input gets a clear 4xx with a JSON error code, never a 500 and never a changed row."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tk_helpers import Event, Tk


@pytest.fixture
async def sale(tk: Tk) -> tuple[Event, Event, dict[str, str]]:
    event = await tk.create_event(limit=3)
    other = await tk.create_event()
    return event, other, await tk.session(event.room)


HOLD_BODIES: list[tuple[str, Any, int, str]] = [
    ("empty list", {"seat_ids": []}, 422, "invalid_seat_ids"),
    ("missing", {}, 422, "invalid_seat_ids"),
    ("not a list", {"seat_ids": 5}, 422, "invalid_seat_ids"),
    ("strings", {"seat_ids": ["1"]}, 422, "invalid_seat_ids"),
    ("floats", {"seat_ids": [1.5]}, 422, "invalid_seat_ids"),
    ("booleans", {"seat_ids": [True]}, 422, "invalid_seat_ids"),
    ("negative", {"seat_ids": [-1]}, 422, "invalid_seat_ids"),
    ("null", {"seat_ids": None}, 422, "invalid_seat_ids"),
    ("beyond bigint", {"seat_ids": [2**64]}, 422, "invalid_seat_ids"),
    ("unknown seat", {"seat_ids": [9_000_000_000]}, 404, "seat_not_found"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), HOLD_BODIES,
                         ids=[c[0] for c in HOLD_BODIES])
async def test_bad_hold_bodies(tk: Tk, sale, case: str, body: Any, status: int,
                               code: str) -> None:
    event, _other, headers = sale
    before = await tk.snapshot(event)
    got, data = await tk.call("POST", f"/api/events/{event.id}/holds", headers, json=body)
    assert (got, data["error"]) == (status, code), data
    assert data["message"]
    assert await tk.snapshot(event) == before


async def test_seat_lists_that_name_real_seats_wrongly(tk: Tk, sale) -> None:
    event, other, headers = sale
    before = await tk.snapshot(event)
    other_before = await tk.snapshot(other)
    cases = [
        ([event.seat_ids[0], other.seat_ids[0]], 422, "seats_not_in_event"),
        ([event.seat_ids[0], event.seat_ids[0]], 422, "duplicate_seat_ids"),
        (event.seat_ids[:4], 422, "too_many_seats"),  # the event's limit is 3
        (list(range(1, 60)), 422, "too_many_seats"),
        ([event.seat_ids[0], 9_000_000_001], 404, "seat_not_found"),
    ]
    for seat_ids, status, code in cases:
        got, data = await tk.hold(event, headers, seat_ids)
        assert (got, data["error"]) == (status, code), (seat_ids, data)
        if code == "seats_not_in_event":
            assert data["seat_ids"] == [other.seat_ids[0]]
    assert await tk.snapshot(event) == before
    assert await tk.snapshot(other) == other_before


async def test_malformed_and_huge_bodies(tk: Tk, sale) -> None:
    event, _other, headers = sale
    before = await tk.snapshot(event)
    path = f"/api/events/{event.id}/holds"
    json_headers = {**headers, "Content-Type": "application/json"}
    for raw, status, code in [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b'{"seat_ids": ' + b"[" * 50_000, 400, "invalid_json"),  # deeper than parsers go
        (b'{"seat_ids": [' + b"1," * 60_000 + b"1]}", 413, "body_too_large"),
    ]:
        got, data = await tk.call("POST", path, json_headers, data=raw)
        assert (got, data["error"]) == (status, code)
    got, data = await tk.hold(event, headers, event.seat_ids[:1], key="k" * 201)
    assert (got, data["error"]) == (422, "invalid_idempotency_key")
    got, data = await tk.call("POST", "/api/session", data=b"{oops",
                              headers={"Content-Type": "application/json"})
    assert (got, data["error"]) == (400, "invalid_json")
    got, data = await tk.call("POST", "/api/session", json={"token": 7})
    assert (got, data["error"]) == (422, "invalid_token")
    assert await tk.snapshot(event) == before


async def test_unknown_ids_are_404(tk: Tk, sale) -> None:
    event, _other, headers = sale
    before = await tk.snapshot(event)
    for method, path, code in [
        ("POST", "/api/events/999999999/holds", "event_not_found"),
        ("GET", "/api/events/999999999/seats", "event_not_found"),
        ("POST", "/api/holds/999999999/confirm", "hold_not_found"),
        ("DELETE", "/api/holds/999999999", "hold_not_found"),
        ("POST", "/api/bookings/999999999/cancel", "booking_not_found"),
        ("POST", "/api/holds/abc/confirm", "not_found"),
        ("POST", "/api/holds/99999999999999999999999/confirm", "not_found"),
        ("GET", "/api/events/-1/seats", "not_found"),
    ]:
        status, data = await tk.call(method, path, headers, json={"seat_ids": [1]})
        assert (status, data["error"]) == (404, code), path
    async with tk.http.get(tk.url("/events/999999999")) as resp:
        assert resp.status == 404
        assert 'data-reason="event_not_found"' in await resp.text()
    assert await tk.snapshot(event) == before


async def test_someone_elses_hold_and_booking_look_missing(tk: Tk, sale) -> None:
    event, _other, owner = sale
    stranger = await tk.session(event.room)
    status, hold = await tk.hold(event, owner, event.seat_ids[:1])
    assert status == 201
    status, hold2 = await tk.hold(event, owner, event.seat_ids[1:2])
    assert status == 201
    status, booked = await tk.confirm(hold2["hold_id"], owner)
    assert status == 201
    before = await tk.snapshot(event)
    for method, path, code in [
        ("POST", f"/api/holds/{hold['hold_id']}/confirm", "hold_not_found"),
        ("DELETE", f"/api/holds/{hold['hold_id']}", "hold_not_found"),
        ("POST", f"/api/bookings/{booked['booking_id']}/cancel", "booking_not_found"),
    ]:
        status, data = await tk.call(method, path, stranger)
        assert (status, data["error"]) == (404, code)
    status, data = await tk.call("GET", "/api/bookings", stranger)
    assert (status, data["bookings"]) == (200, [])
    assert await tk.snapshot(event) == before


BAD_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("no sections", {"sections": []}),
    ("bad room", {"room": "has space"}),
    # Rooms the waiting room cannot have: an event bound to one would admit nobody.
    ("uppercase room", {"room": "Spring"}),
    ("underscore in the room", {"room": "spring_2"}),
    ("room starting with a dash", {"room": "-spring"}),
    ("line feed after the room", {"room": "spring\n"}),
    ("limit zero", {"per_visitor_limit": 0}),
    ("ttl string", {"hold_ttl_s": "300"}),
    ("negative price", {"sections": [{"name": "A", "rows": 1, "seats_per_row": 1,
                                      "price": -1}]}),
    ("too many seats", {"sections": [{"name": "A", "rows": 100, "seats_per_row": 100,
                                      "price": 1},
                                     {"name": "B", "rows": 100, "seats_per_row": 100,
                                      "price": 1},
                                     {"name": "C", "rows": 1, "seats_per_row": 1,
                                      "price": 1}]}),
    ("naive time", {"sale_starts_at": "2030-01-01T00:00:00"}),
    ("window backwards", {"sale_starts_at": "2030-01-02T00:00:00Z",
                          "sale_ends_at": "2030-01-01T00:00:00Z"}),
    # PostgreSQL's text refuses NUL (a 500 once); no control character belongs in a name.
    ("NUL in the name", {"name": "a\u0000b"}),
    ("line feed inside the name", {"name": "a\nb"}),
    ("NUL in a section name", {"sections": [{"name": "A\u0000", "rows": 1,
                                             "seats_per_row": 1, "price": 1}]}),
    # Valid ISO times that leave years 1-9999 once in UTC (a 500 once).
    ("start before year 1 in UTC", {"sale_starts_at": "0001-01-01T00:00:00+14:00"}),
    ("end after year 9999 in UTC", {"sale_ends_at": "9999-12-31T23:59:59-14:00"}),
]


async def test_a_bad_section_is_named_by_its_place(tk: Tk) -> None:
    sections = [{"name": "A", "rows": 1, "seats_per_row": 2, "price": 100},
                {"name": " ", "rows": 1, "seats_per_row": 2, "price": 100}]
    status, data = await tk.call("POST", "/admin/api/events", tk.admin_headers, json={
        "name": "x", "room": "named-section-room", "sections": sections})
    assert (status, data["field"]) == (422, "sections[1].name"), data
    sections[1] |= {"name": "B", "rows": 0}
    status, data = await tk.call("POST", "/admin/api/events", tk.admin_headers, json={
        "name": "x", "room": "named-section-room", "sections": sections})
    assert (status, data["field"]) == (422, "sections[1].rows"), data


@pytest.mark.parametrize(("case", "change"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
async def test_bad_event_definitions(tk: Tk, case: str, change: dict[str, Any]) -> None:
    body = {"name": "x", "room": "bad-event-room", "per_visitor_limit": 2, "hold_ttl_s": 60,
            "sections": [{"name": "A", "rows": 1, "seats_per_row": 2, "price": 100}], **change}
    count = await tk.db.fetchval("SELECT count(*) FROM events")
    status, data = await tk.call("POST", "/admin/api/events", tk.admin_headers, json=body)
    assert (status, data["error"]) == (422, "invalid_event"), data
    assert await tk.db.fetchval("SELECT count(*) FROM events") == count


async def test_admin_api_needs_the_token_and_rooms_are_unique(tk: Tk, sale) -> None:
    event, _other, _headers = sale
    body = {"name": "x", "room": event.room,
            "sections": [{"name": "A", "rows": 1, "seats_per_row": 1, "price": 1}]}
    count = await tk.db.fetchval("SELECT count(*) FROM events")
    status, data = await tk.call("POST", "/admin/api/events", json=body)
    assert (status, data["error"]) == (401, "unauthorized")
    status, data = await tk.call("GET", f"/admin/api/events/{event.id}/report",
                                 {"Authorization": "Bearer wrong-token-0123456789"})
    assert (status, data["error"]) == (401, "unauthorized")
    status, data = await tk.call("POST", "/admin/api/events", tk.admin_headers, json=body)
    assert (status, data["error"]) == (409, "room_taken")
    assert await tk.db.fetchval("SELECT count(*) FROM events") == count
    status, data = await tk.call("GET", "/admin/api/events/999999999/report", tk.admin_headers)
    assert (status, data["error"]) == (404, "event_not_found")


async def test_sale_window_is_enforced(tk: Tk) -> None:
    early = await tk.create_event(sale_starts_at="2999-01-01T00:00:00Z")
    late = await tk.create_event(sale_ends_at="2000-01-01T00:00:00Z")
    for event, code in [(early, "sale_not_open"), (late, "sale_closed")]:
        headers = await tk.session(event.room)
        before = await tk.snapshot(event)
        status, data = await tk.hold(event, headers, event.seat_ids[:1])
        assert (status, data["error"]) == (409, code)
        assert await tk.snapshot(event) == before


async def test_an_unknown_event_page_says_the_same_in_its_title_and_heading(tk: Tk) -> None:
    async with tk.http.get(tk.url("/events/999999999"), allow_redirects=False) as resp:
        page = await resp.text()
        assert resp.status == 404
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert title and heading and title.group(1).strip() == heading.group(1).strip(), page
