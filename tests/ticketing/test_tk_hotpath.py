"""The guarantees the short hold and confirm paths must keep: the lock timeout still applies,
a retry is answered without taking seat locks, a refused request leaves no transaction open,
and a session remembered by the process still ends at its expiry."""

from __future__ import annotations

import asyncio
import secrets
import time

from aiohttp.test_utils import TestServer
from tk_helpers import Tk

from ticketing.keys import POOL_KEY


async def test_a_seat_locked_elsewhere_answers_busy_after_the_lock_timeout(tk: Tk) -> None:
    event = await tk.create_event(limit=4)
    headers = await tk.session(event.room)
    seat = event.seat_ids[0]
    async with tk.db.acquire() as other:
        tx = other.transaction()
        await tx.start()
        try:
            await other.execute("SELECT id FROM seats WHERE id = $1 FOR UPDATE", seat)
            status, body = await tk.hold(event, headers, [seat], key="k-busy")
        finally:
            await tx.rollback()
    assert (status, body["error"]) == (409, "busy")
    # Nothing was held, and once the lock is gone the same request succeeds.
    assert await tk.db.fetchval("SELECT status FROM seats WHERE id = $1", seat) == "free"
    status, _ = await tk.hold(event, headers, [seat], key="k-busy")
    assert status == 201


async def test_a_retry_gets_the_first_answer_even_while_its_seats_are_locked(tk: Tk) -> None:
    event = await tk.create_event(limit=4)
    headers = await tk.session(event.room)
    seats = event.seat_ids[:2]
    status, first = await tk.hold(event, headers, seats, key="retry-locked")
    assert status == 201
    async with tk.db.acquire() as other:
        tx = other.transaction()
        await tx.start()
        try:
            await other.execute("SELECT id FROM seats WHERE id = ANY($1::bigint[]) FOR UPDATE",
                                seats)
            # Waiting for these locks would end in 409 busy; the stored answer needs none.
            status, again = await tk.hold(event, headers, seats, key="retry-locked")
        finally:
            await tx.rollback()
    assert (status, again) == (201, first)


async def test_refused_requests_leave_no_transaction_open(tk: Tk) -> None:
    event = await tk.create_event(limit=2)
    buyer = await tk.session(event.room)
    rival = await tk.session(event.room)
    status, hold = await tk.hold(event, buyer, event.seat_ids[:2])
    assert status == 201
    refusals = await asyncio.gather(
        tk.hold(event, rival, event.seat_ids[:1]),                  # seats_unavailable
        tk.hold(event, buyer, event.seat_ids[2:3]),                 # limit_exceeded
        tk.hold(event, rival, [event.seat_ids[-1] + 10_000_000]),   # seat_not_found
        tk.confirm(hold["hold_id"] + 10_000_000, buyer),            # hold_not_found
        tk.confirm(hold["hold_id"], rival),                         # someone else's hold
    )
    assert [s for s, _ in refusals] == [409, 409, 404, 404, 404]
    assert [b["error"] for _, b in refusals] == [
        "seats_unavailable", "limit_exceeded", "seat_not_found", "hold_not_found",
        "hold_not_found"]
    assert await tk.db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'") == 0
    # The pooled connections are fine to use again.
    status, _ = await tk.confirm(hold["hold_id"], buyer)
    assert status == 201


async def test_a_remembered_session_still_ends_at_its_expiry(tk: Tk) -> None:
    event = await tk.create_event(limit=4)
    token = tk.signer.session(event.room, secrets.token_hex(16), secrets.token_hex(8),
                              time.time() + 1.5)
    headers = {"Authorization": f"Bearer {token}"}
    status, _ = await tk.call("GET", f"/api/events/{event.id}/seats", headers)
    assert status == 200
    await asyncio.sleep(1.6)
    status, body = await tk.call("GET", f"/api/events/{event.id}/seats", headers)
    assert (status, body["error"]) == (401, "no_session")


async def test_confirm_sells_exactly_the_held_seats_and_notes_them_once(tk: Tk) -> None:
    event = await tk.create_event(limit=4)
    headers = await tk.session(event.room)
    status, hold = await tk.hold(event, headers, event.seat_ids[5:8], key="three")
    assert status == 201
    results = await asyncio.gather(*(tk.confirm(hold["hold_id"], headers) for _ in range(5)))
    assert {s for s, _ in results} == {201}
    assert len({b["booking_id"] for _, b in results}) == 1
    rows = await tk.db.fetch(
        "SELECT bs.seat_id, bs.price FROM booking_seats bs WHERE bs.booking_id = $1 "
        "ORDER BY bs.seat_id", results[0][1]["booking_id"])
    assert [r["seat_id"] for r in rows] == event.seat_ids[5:8]
    report = await tk.report(event)
    assert report["seats"]["sold"] == report["booked_seats"] == 3
    assert report["revenue"] == 3 * 5000 and report["consistent"]


async def test_holds_and_confirms_run_on_generic_plans(tk: Tk, tk_server: TestServer) -> None:
    """Left to choose, PostgreSQL planned the hold's write statement anew on every call (its
    generic plan looked dearer than a custom one); write transactions now keep one plan per
    connection."""
    event = await tk.create_event(limit=2, sections=[
        {"name": "A", "rows": 5, "seats_per_row": 10, "price": 100}])
    for i in range(8):
        headers = await tk.session(event.room)
        status, hold = await tk.hold(event, headers, event.seat_ids[2 * i:2 * i + 2])
        assert status == 201, hold
        status, booking = await tk.confirm(hold["hold_id"], headers)
        assert status == 201, booking

    pool = tk_server.app[POOL_KEY]
    plans: dict[str, list[tuple[int, int]]] = {"INSERT INTO holds": [], "INSERT INTO bookings": []}
    conns = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in conns:
            for row in await conn.fetch(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"):
                for marker, seen in plans.items():
                    if marker in row["statement"]:
                        seen.append((row["generic_plans"], row["custom_plans"]))
    finally:
        for conn in conns:
            await pool.release(conn)
    for marker, seen in plans.items():
        assert seen, f"no prepared statement with {marker!r}"
        assert sum(g for g, _ in seen) >= 8, (marker, seen)
        assert all(c == 0 for _, c in seen), (marker, seen)
