"""Expired holds come back: through the sweeper, through a new hold, and never as a booking."""

from __future__ import annotations

import asyncio

from tk_helpers import Tk

from ticketing.sweeper import sweep_once
from ticketing.tuning import Tuning


async def _wait_for(predicate) -> bool:
    """Poll ``predicate`` for up to 10 s (the sweeper runs every 0.2 s in the tests)."""
    for _ in range(100):
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_confirm_after_expiry_is_410_and_sells_nothing(tk: Tk) -> None:
    event = await tk.create_event(ttl=1)
    headers = await tk.session(event.room)
    status, hold = await tk.hold(event, headers, event.seat_ids[:2])
    assert status == 201
    await asyncio.sleep(1.3)
    status, body = await tk.confirm(hold["hold_id"], headers)
    assert (status, body["error"]) == (410, "hold_expired")
    assert await tk.db.fetchval(
        "SELECT count(*) FROM bookings WHERE event_id = $1", event.id) == 0
    report = await tk.report(event)
    assert report["seats"]["sold"] == 0 and report["seats"]["held"] == 0


async def test_new_hold_takes_over_an_expired_hold(tk: Tk) -> None:
    event = await tk.create_event(ttl=1)
    first = await tk.session(event.room)
    second = await tk.session(event.room)
    status, hold = await tk.hold(event, first, event.seat_ids[:2])
    assert status == 201
    status, body = await tk.hold(event, second, event.seat_ids[1:3])
    assert (status, body["error"], body["seat_ids"]) == (409, "seats_unavailable",
                                                         [event.seat_ids[1]])
    await asyncio.sleep(1.2)
    # Before or after the sweeper, the expired hold no longer blocks anyone.
    status, taken = await tk.hold(event, second, event.seat_ids[1:3])
    assert status == 201, taken
    status, body = await tk.confirm(hold["hold_id"], first)
    assert status == 410
    status, booked = await tk.confirm(taken["hold_id"], second)
    assert status == 201, booked
    rows = await tk.db.fetch(
        "SELECT id, status FROM seats WHERE id = ANY($1::bigint[]) ORDER BY id",
        event.seat_ids[:3])
    assert [r["status"] for r in rows][1:] == ["sold", "sold"]


async def test_sweeper_frees_expired_holds_in_the_database(tk: Tk) -> None:
    event = await tk.create_event(ttl=1, limit=10)
    headers = await tk.session(event.room)
    status, hold = await tk.hold(event, headers, event.seat_ids[:5])
    assert status == 201

    async def swept() -> bool:
        statuses = await tk.db.fetch(
            "SELECT status, hold_id FROM seats WHERE id = ANY($1::bigint[])",
            event.seat_ids[:5])
        return all(r["status"] == "free" and r["hold_id"] is None for r in statuses)

    assert await _wait_for(swept)
    assert await tk.db.fetchval("SELECT status FROM holds WHERE id = $1",
                                hold["hold_id"]) == "expired"
    # The visitor's limit no longer counts them: the same visitor can hold ten again.
    status, body = await tk.hold(event, headers, event.seat_ids[:10])
    assert status == 201, body


async def test_release_and_leave_free_seats_and_free_the_slot(tk: Tk, waitingroom_stub) -> None:
    event = await tk.create_event(limit=4)
    visitor = "leaver-" + event.room
    headers = await tk.session(event.room, visitor)
    status, hold = await tk.hold(event, headers, event.seat_ids[:2])
    assert status == 201
    status, _ = await tk.call("DELETE", f"/api/holds/{hold['hold_id']}", headers)
    assert status == 204
    status, _ = await tk.call("DELETE", f"/api/holds/{hold['hold_id']}", headers)
    assert status == 204  # releasing twice is harmless
    status, body = await tk.confirm(hold["hold_id"], headers)
    assert (status, body["error"]) == (410, "hold_released")

    status, hold = await tk.hold(event, headers, event.seat_ids[2:4])
    assert status == 201
    status, body = await tk.call("DELETE", "/api/session", headers)
    assert status == 200
    report = await tk.report(event)
    assert report["seats"]["free"] == len(event.seat_ids)
    assert await _wait_for(lambda: _async_true(visitor in waitingroom_stub.left(event.room)))


async def _async_true(value: bool) -> bool:
    return value


async def test_sweeper_skips_seats_a_buyer_has_locked(tk: Tk) -> None:
    """SKIP LOCKED: a seat a buyer is working on is left alone, and the sweep does not wait."""
    event = await tk.create_event(ttl=1, limit=10)
    headers = await tk.session(event.room)
    status, _hold = await tk.hold(event, headers, event.seat_ids[:3])
    assert status == 201
    busy_seat = event.seat_ids[0]
    async with tk.db.acquire() as buyer:
        tx = buyer.transaction()
        await tx.start()
        try:
            # Locked before the hold expires, and kept locked while the app's sweeper runs.
            await buyer.execute("SELECT id FROM seats WHERE id = $1 FOR UPDATE", busy_seat)
            await asyncio.sleep(1.1)
            # With the row locked elsewhere, a sweep still finishes promptly (a waiting sweep
            # would hit its lock_timeout and raise Busy instead).
            await asyncio.wait_for(sweep_once(tk.db, Tuning(lock_timeout_ms=3000)), 2.5)

            async def others_swept() -> bool:
                rows = await tk.db.fetch(
                    "SELECT status FROM seats WHERE id = ANY($1::bigint[])",
                    event.seat_ids[1:3])
                return all(r["status"] == "free" for r in rows)

            assert await _wait_for(others_swept)
            assert await tk.db.fetchval("SELECT status FROM seats WHERE id = $1",
                                        busy_seat) == "held"
        finally:
            await tx.rollback()

    async def all_swept() -> bool:
        return await tk.db.fetchval("SELECT status FROM seats WHERE id = $1",
                                    busy_seat) == "free"

    assert await _wait_for(all_swept)
