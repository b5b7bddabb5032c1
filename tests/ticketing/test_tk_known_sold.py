"""What the seat notices tell a process (stream.KnownSeats): holds refused without a query only
for seats sold to someone else, never a buyer's own retry; the lock-free look taken only for
seats a notice said were taken; all forgotten when a cancel frees them and whenever the listener
connects again."""

from __future__ import annotations

import asyncio
import json
import secrets

from aiohttp.test_utils import TestServer
from promtext import samples_of, value
from tk_helpers import Tk, until

from ticketing.keys import HUB_KEY
from ticketing.stream import CHANNEL, KnownSeats, SeatHub


def test_known_seats_keep_the_newest_notice_per_seat() -> None:
    known = KnownSeats()
    known.note(1, 10, "sold", 5, "alice")
    known.note(1, 11, "sold", 6, "alice")
    assert known.sold_to_others(1, "bob", [10, 11])
    assert not known.sold_to_others(1, "alice", [10])  # her own purchase: PostgreSQL decides
    assert not known.sold_to_others(2, "bob", [10])  # another event's id: PostgreSQL decides
    assert not known.sold_to_others(1, "bob", [10, 12])  # one seat not known sold
    known.note(1, 10, "held", 4, "")  # an older notice changes nothing
    assert known.sold_to_others(1, "bob", [10])
    known.note(1, 10, "free", 7, "")  # a cancel freed it
    assert not known.sold_to_others(1, "bob", [10]) and not known.any_taken([10])
    known.note(1, 12, "sold", 8, "")  # a notice without its buyer is not enough to refuse...
    assert not known.sold_to_others(1, "bob", [12])
    assert known.any_taken([12])  # ...but the seat is taken: a hold on it looks first
    known.forget([11, 12])
    assert len(known) == 0


def test_held_seats_are_taken_but_never_refused_without_a_query() -> None:
    known = KnownSeats()
    assert not known.any_taken([20, 21])  # nothing heard: the hold goes straight to its locks
    known.note(1, 21, "held", 3, "")
    assert known.any_taken([20, 21]) and not known.any_taken([20])
    assert not known.sold_to_others(1, "bob", [21])  # a hold may lapse: PostgreSQL decides
    known.note(1, 21, "sold", 4, "ann")  # its confirm
    assert known.sold_to_others(1, "bob", [21])
    known.note(1, 21, "free", 5, "")  # cancelled
    assert not known.any_taken([21]) and len(known) == 0


def test_the_hub_learns_buyers_from_a_confirms_notice_only() -> None:
    hub = SeatHub("postgresql://unused", 0.05)  # never started: notices are handed in
    # A confirm's notice: the seat entries as every notice has them, the buyer beside them
    # (a key that processes of the previous version ignore).
    hub._on_notice(None, 0, CHANNEL, json.dumps({"e": 7, "s": [[70, "sold", 3]], "b": "ann"}))
    hub._on_notice(None, 0, CHANNEL, json.dumps({"e": 7, "s": [[71, "sold", 4]]}))
    hub._on_notice(None, 0, CHANNEL, "not json")
    assert hub.known.sold_to_others(7, "bob", [70])
    assert not hub.known.sold_to_others(7, "bob", [71])  # no buyer named: not known


async def _scrape(tk: Tk, counter: str) -> float:
    async with tk.http.get(tk.url("/metrics")) as resp:
        samples = samples_of(await resp.text())
    assert (counter, ()) in samples, f"{counter} is exported"
    return value(samples, counter)


async def _scrape_known_sold(tk: Tk) -> float:
    return await _scrape(tk, "ticketing_holds_known_sold_total")


async def test_a_seat_sold_to_another_buyer_is_refused_without_a_query(
    tk: Tk, tk_server: TestServer,
) -> None:
    known = tk_server.app[HUB_KEY].known
    event = await tk.create_event(limit=4)
    alice_id, bob_id = secrets.token_hex(16), secrets.token_hex(16)
    alice = await tk.session(event.room, alice_id)
    bob = await tk.session(event.room, bob_id)
    seat, other = event.seat_ids[0], event.seat_ids[1]
    status, hold = await tk.hold(event, alice, [seat], key="alice-1")
    assert status == 201
    status, booking = await tk.confirm(hold["hold_id"], alice)
    assert status == 201
    await until(lambda: known.sold_to_others(event.id, bob_id, [seat]), "the notice arrived")

    before = await _scrape_known_sold(tk)
    status, body = await tk.hold(event, bob, [seat], key="bob-1")
    assert (status, body["error"], body["seat_ids"]) == (409, "seats_unavailable", [seat])
    assert await _scrape_known_sold(tk) == before + 1
    # A request naming a seat not known sold goes to PostgreSQL, which gives the same refusal.
    status, body = await tk.hold(event, bob, [seat, other], key="bob-2")
    assert (status, body["error"], body["seat_ids"]) == (409, "seats_unavailable", [seat])
    # Alice's retry of her own hold gets its first answer, as it always did.
    status, again = await tk.hold(event, alice, [seat], key="alice-1")
    assert (status, again) == (201, hold)
    assert await _scrape_known_sold(tk) == before + 1
    # Nothing was written by the refusals.
    row = await tk.db.fetchrow("SELECT status, visitor FROM seats WHERE id = $1", seat)
    assert (row["status"], row["visitor"]) == ("sold", alice_id)
    assert await tk.db.fetchval("SELECT count(*) FROM holds WHERE visitor = $1", bob_id) == 0

    # Alice cancels: this process forgets the seat at once, and Bob gets it.
    status, _ = await tk.call("POST", f"/api/bookings/{booking['booking_id']}/cancel", alice)
    assert status == 200
    assert not known.sold_to_others(event.id, bob_id, [seat])
    status, _ = await tk.hold(event, bob, [seat], key="bob-3")
    assert status == 201


async def test_the_known_seats_are_forgotten_when_the_listener_reconnects(
    tk: Tk, tk_server: TestServer,
) -> None:
    known = tk_server.app[HUB_KEY].known
    event = await tk.create_event(limit=4)
    buyer = await tk.session(event.room)
    status, hold = await tk.hold(event, buyer, event.seat_ids[:1])
    assert status == 201 and (await tk.confirm(hold["hold_id"], buyer))[0] == 201
    await until(lambda: len(known) > 0, "the notice arrived")
    # The listener's connection dies: notices may be missed until it is back.
    killed = await tk.db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()")
    assert killed >= 1
    await until(lambda: len(known) == 0, "the known seats were forgotten")
    # The listener comes back and learns again from the next sale.
    for _ in range(400):
        if await tk.db.fetchval("SELECT count(*) FROM pg_stat_activity "
                                "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"):
            break
        await asyncio.sleep(0.025)
    buyer = await tk.session(event.room)
    status, hold = await tk.hold(event, buyer, event.seat_ids[1:2])
    assert status == 201 and (await tk.confirm(hold["hold_id"], buyer))[0] == 201
    await until(lambda: len(known) > 0, "the reconnected listener heard the sale")


async def test_a_hold_looks_first_only_when_a_notice_said_a_seat_was_taken(
    tk: Tk, tk_server: TestServer,
) -> None:
    known = tk_server.app[HUB_KEY].known
    event = await tk.create_event(limit=4)
    alice, bob = await tk.session(event.room), await tk.session(event.room)
    seat, free = event.seat_ids[0], event.seat_ids[1]

    before = await _scrape(tk, "ticketing_holds_peeked_total")
    status, hold = await tk.hold(event, alice, [seat], key="alice-1")
    assert status == 201
    assert await _scrape(tk, "ticketing_holds_peeked_total") == before  # nothing heard of it
    await until(lambda: known.any_taken([seat]), "the hold's notice arrived")

    # Bob asks for the held seat while its row is locked by some other transaction: the look
    # answers from its snapshot at once, without queueing for the lock (that would be 409
    # "busy" after the lock timeout).
    async with tk.db.acquire() as other:
        tx = other.transaction()
        await tx.start()
        try:
            await other.execute("SELECT id FROM seats WHERE id = $1 FOR UPDATE", seat)
            status, body = await tk.hold(event, bob, [seat, free], key="bob-1")
            assert (status, body["error"], body["seat_ids"]) == (409, "seats_unavailable", [seat])
            # Alice's retry is answered by the look too, from the stored first answer.
            status, again = await tk.hold(event, alice, [seat], key="alice-1")
            assert (status, again) == (201, hold)
        finally:
            await tx.rollback()
    assert await _scrape(tk, "ticketing_holds_peeked_total") == before + 2
    assert await tk.db.fetchval("SELECT status FROM seats WHERE id = $1", free) == "free"
