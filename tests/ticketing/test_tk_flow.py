"""The happy path through the API: enter, see the map, hold, confirm, list, cancel."""

from __future__ import annotations

import asyncio

from tk_helpers import Tk


async def test_hold_confirm_cancel_round_trip(tk: Tk, waitingroom_stub) -> None:
    event = await tk.create_event(limit=4)
    visitor = "v" * 32
    headers = await tk.session(event.room, visitor)

    status, seat_map = await tk.call("GET", f"/api/events/{event.id}/seats", headers)
    assert status == 200
    assert [s["id"] for s in seat_map["seats"]] == event.seat_ids
    assert {s["status"] for s in seat_map["seats"]} == {"free"}
    assert seat_map["seats"][0]["label"] == "A 1-1"
    assert seat_map["seats"][0]["price"] == 5000

    status, hold = await tk.hold(event, headers, event.seat_ids[:2], key="k1")
    assert status == 201, hold
    assert hold["seat_ids"] == event.seat_ids[:2]
    assert "expires_at" in hold

    status, booked = await tk.confirm(hold["hold_id"], headers)
    assert status == 201, booked
    status, again = await tk.confirm(hold["hold_id"], headers)
    assert (status, again) == (201, booked)

    status, bookings = await tk.call("GET", "/api/bookings", headers)
    assert status == 200
    assert [b["booking_id"] for b in bookings["bookings"]] == [booked["booking_id"]]
    assert bookings["bookings"][0]["total"] == 10000

    report = await tk.report(event)
    assert report["seats"]["sold"] == 2 and report["booked_seats"] == 2
    assert report["revenue"] == 10000 and report["consistent"]

    # Booking tells the waiting room the visitor is done, so the slot is reused.
    for _ in range(50):
        if visitor in waitingroom_stub.left(event.room):
            break
        await asyncio.sleep(0.05)
    assert visitor in waitingroom_stub.left(event.room)
    auths = {a for r, v, a in waitingroom_stub.calls if r == event.room}
    assert auths == {f"Bearer {tk.admin_headers['Authorization'].split()[1]}"}

    status, cancelled = await tk.call("POST", f"/api/bookings/{booked['booking_id']}/cancel",
                                      headers)
    assert (status, cancelled["status"]) == (200, "cancelled")
    report = await tk.report(event)
    assert report["seats"]["sold"] == 0 and report["booked_seats"] == 0
    assert report["seats"]["free"] == 20 and report["consistent"]
