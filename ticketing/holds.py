"""Holding, confirming, releasing and cancelling seats: the part that must never oversell.

Each operation is one transaction (``db.run_write``) that takes its locks once, in the order
the queries module states, re-checks availability under those locks, then writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from fairgate.web import ValidationFailed

from . import queries
from .db import Connection, run_read, run_write
from .errors import (
    BookingNotFound,
    HoldAlreadyConfirmed,
    HoldExpired,
    HoldNotFound,
    HoldReleased,
    IdempotencyKeyReused,
    LimitExceeded,
    SaleClosed,
    SaleNotOpen,
    SeatNotFound,
    SeatsNotInEvent,
    SeatsUnavailable,
)
from .metrics import KNOWN_SOLD, LOCK_WAIT, PEEKS
from .stream import CHANNEL, KnownSeats, notify_seats
from .tuning import Tuning

log = logging.getLogger(__name__)

# Seat ids are bigserial values: anything outside a positive bigint cannot name a seat.
MAX_SEAT_ID = 2**63 - 1
MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    """An answer of a write: HTTP status and JSON body (kept as is for idempotent retries)."""

    status: int
    body: dict[str, Any]


def parse_seat_ids(raw: Any, event_limit: int, request_limit: int) -> list[int]:
    """The requested seat ids, sorted; 422 for anything that is not a short list of ids."""
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("seat_ids must be a non-empty list of seat ids.",
                               code="invalid_seat_ids")
    if any(not isinstance(i, int) or isinstance(i, bool) or not 0 < i <= MAX_SEAT_ID
           for i in raw):
        raise ValidationFailed("seat_ids must hold positive integers only.",
                               code="invalid_seat_ids")
    if len(set(raw)) != len(raw):
        raise ValidationFailed("seat_ids lists a seat twice.", code="duplicate_seat_ids")
    if len(raw) > min(event_limit, request_limit):
        raise ValidationFailed(
            f"At most {min(event_limit, request_limit)} seats can be held at once.",
            code="too_many_seats", limit=min(event_limit, request_limit),
        )
    return sorted(raw)


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1 to 200 printable characters.",
                               code="invalid_idempotency_key")
    return key


def check_sale_window(event: asyncpg.Record) -> None:
    now = datetime.now(UTC)
    if event["sale_starts_at"] is not None and now < event["sale_starts_at"]:
        raise SaleNotOpen()
    if event["sale_ends_at"] is not None and now >= event["sale_ends_at"]:
        raise SaleClosed()


async def place_hold(
    pool: asyncpg.Pool,
    tuning: Tuning,
    event: asyncpg.Record,
    visitor: str,
    seat_ids: list[int],
    idempotency_key: str | None,
    known: KnownSeats,
) -> Outcome:
    """Hold all of ``seat_ids`` for ``visitor`` or none of them.

    Seats this process knows were sold to others are refused at once (``known``, fed by the
    seat notices). When a notice said any of the seats is taken, a lock-free look (PEEK_HOLD)
    answers retries and requests for seats already gone. Everything else is decided in one
    transaction under the buyer and seat locks, which answers those cases the same way.
    """
    check_sale_window(event)
    event_id = event["id"]
    if known.sold_to_others(event_id, visitor, seat_ids):
        KNOWN_SOLD.inc()
        raise SeatsUnavailable(seat_ids=seat_ids)
    fingerprint = ",".join(map(str, seat_ids))

    if known.any_taken(seat_ids):
        PEEKS.inc()
        peek = await run_read(pool, tuning, lambda c: c.fetchrow(
            queries.PEEK_HOLD, event_id, visitor, idempotency_key, seat_ids))
        first = _first_answer(peek, fingerprint)
        if first is not None:
            return first
        _check_seats_exist(event_id, seat_ids, peek["ids"], peek["event_ids"])
        if peek["taken_ids"]:
            raise SeatsUnavailable(seat_ids=list(peek["taken_ids"]))

    async def work(conn: Connection) -> Outcome:
        # 1. The buyer's own lock was taken with BEGIN (``lock_key`` below): parallel requests
        #    of one visitor queue there, so the limit check sees every seat their earlier
        #    requests took.
        # 2. An earlier answer to this key, else the seat rows (ascending id, under
        #    lock_timeout) and the seats the visitor already owns: one statement.
        started = time.perf_counter()
        found = await conn.fetchrow(queries.LOCK_SEATS_FOR_HOLD, event_id, visitor,
                                    idempotency_key, seat_ids)
        LOCK_WAIT.labels("hold").observe(time.perf_counter() - started)
        first = _first_answer(found, fingerprint)
        if first is not None:
            return first
        _check_seats_exist(event_id, seat_ids, found["ids"], found["event_ids"])
        rows = list(zip(found["ids"], found["statuses"], found["hold_ids"], strict=True))
        hold_ids = [hold_id for _id, status, hold_id in rows if status == "held"]
        live = {r["id"] for r in await conn.fetch(queries.LIVE_HOLDS, hold_ids)} if hold_ids \
            else set()
        lost = [seat_id for seat_id, status, hold_id in rows
                if status == "sold" or (status == "held" and hold_id in live)]
        if lost:
            raise SeatsUnavailable(seat_ids=lost)
        # 3. The limit, counted under the buyer lock in this same transaction.
        owned = found["owned"]
        limit = event["per_visitor_limit"]
        if owned + len(seat_ids) > limit:
            raise LimitExceeded(limit=limit, owned=owned)
        # 4. Every write in one statement; the answer is stored with it for a retry.
        expires_at = found["now"] + timedelta(seconds=event["hold_ttl_s"])
        body = {"event_id": event_id, "seat_ids": seat_ids, "expires_at": expires_at.isoformat()}
        hold_id = await conn.fetchval(queries.PLACE_HOLD, event_id, visitor, seat_ids,
                                      expires_at, idempotency_key, fingerprint,
                                      json.dumps(body), CHANNEL)
        return Outcome(201, {"hold_id": hold_id, **body})

    return await run_write(pool, tuning, work, lock_key=buyer_lock_key(event_id, visitor))


def buyer_lock_key(event_id: int, visitor: str) -> int:
    """The advisory lock key of one visitor in one event: 64 bits of a keyed hash, so two
    buyers share a lock only by a 1 in 2**64 chance (and then merely wait for each other)."""
    digest = hashlib.blake2b(f"{event_id}/{visitor}".encode(), digest_size=8,
                             person=b"fg.buyer").digest()
    return int.from_bytes(digest, "big", signed=True)


def _first_answer(row: asyncpg.Record, fingerprint: str) -> Outcome | None:
    """The stored answer to this request's Idempotency-Key (422 if the key named other seats)."""
    if row["answer_status"] is None:
        return None
    if row["answer_fingerprint"] != fingerprint:
        raise IdempotencyKeyReused()
    return Outcome(row["answer_status"], json.loads(row["answer_body"]))


def _check_seats_exist(event_id: int, seat_ids: list[int], found_ids: list[int] | None,
                       found_events: list[int] | None) -> None:
    """404 for ids that name no seat, 422 for seats of another event."""
    found = dict(zip(found_ids or (), found_events or (), strict=True))
    if len(found) == len(seat_ids) and all(e == event_id for e in found.values()):
        return
    missing = [i for i in seat_ids if i not in found]
    if missing:
        raise SeatNotFound(seat_ids=missing)
    raise SeatsNotInEvent(seat_ids=[i for i, e in found.items() if e != event_id])


@dataclass(frozen=True, slots=True)
class Confirmed:
    booking_id: int
    room: str
    created: bool


async def confirm_hold(
    pool: asyncpg.Pool, tuning: Tuning, hold_id: int, room: str, visitor: str
) -> Confirmed:
    """Turn a live hold into a booking. Confirming twice returns the same booking."""

    async def work(conn: Connection) -> Confirmed:
        # The hold row, then (for the caller's own live hold) its seats: one statement.
        started = time.perf_counter()
        hold = await conn.fetchrow(queries.LOCK_HOLD_FOR_CONFIRM, hold_id, visitor, room)
        LOCK_WAIT.labels("confirm").observe(time.perf_counter() - started)
        if hold is None or hold["visitor"] != visitor or hold["room"] != room:
            raise HoldNotFound()
        if hold["status"] == "confirmed":
            booking_id = hold["booking_id"]
            if booking_id is None:
                booking_id = await conn.fetchval(queries.BOOKING_OF_HOLD, hold_id)
            return Confirmed(booking_id, hold["room"], created=False)
        if hold["status"] == "released":
            raise HoldReleased()
        if hold["status"] == "expired" or hold["expired"]:
            raise HoldExpired()
        seat_ids = hold["locked_ids"] or []
        if len(seat_ids) != len(hold["seat_ids"]):
            # Only an expired hold can lose seats, and that was checked above; refuse anyway
            # rather than sell part of a hold.
            raise HoldExpired()
        booking_id = await conn.fetchval(queries.CONFIRM_HOLD, hold["event_id"], visitor,
                                         hold_id, hold["total"], seat_ids, CHANNEL)
        return Confirmed(booking_id, hold["room"], created=True)

    done = await run_write(pool, tuning, work)
    if done.created:
        log.info("booking %d confirmed from hold %d", done.booking_id, hold_id)
    return done


async def release_hold(
    pool: asyncpg.Pool, tuning: Tuning, hold_id: int, room: str, visitor: str
) -> None:
    """Give the seats of a hold back. Releasing an ended hold again is a no-op."""

    async def work(conn: Connection) -> None:
        hold = await _own_hold(conn, hold_id, room, visitor)
        if hold["status"] == "confirmed":
            raise HoldAlreadyConfirmed()
        if hold["status"] != "active":
            return
        changed = await conn.fetch(queries.FREE_SEATS_OF_HOLD, hold_id)
        await conn.execute(queries.SET_HOLD_STATUS, hold_id, "released")
        await notify_seats(conn, hold["event_id"], changed)

    await run_write(pool, tuning, work)


async def release_all(
    pool: asyncpg.Pool, tuning: Tuning, event_id: int, visitor: str
) -> int:
    """Release every active hold of a visitor who gives up; returns how many were released."""

    async def work(conn: Connection) -> int:
        hold_ids = [r["id"] for r in await conn.fetch(queries.ACTIVE_HOLDS_OF_VISITOR,
                                                      event_id, visitor)]
        for hold_id in hold_ids:
            changed = await conn.fetch(queries.FREE_SEATS_OF_HOLD, hold_id)
            await conn.execute(queries.SET_HOLD_STATUS, hold_id, "released")
            await notify_seats(conn, event_id, changed)
        return len(hold_ids)

    # Under the buyer lock: a hold of this visitor in flight finishes before, or waits.
    return await run_write(pool, tuning, work, lock_key=buyer_lock_key(event_id, visitor))


async def _own_hold(conn: Connection, hold_id: int, room: str, visitor: str) -> asyncpg.Record:
    """The hold row, locked; someone else's hold is reported as missing, not as forbidden."""
    hold = await conn.fetchrow(queries.LOCK_HOLD, hold_id)
    if hold is None or hold["visitor"] != visitor or hold["room"] != room:
        raise HoldNotFound()
    return hold


async def cancel_booking(
    pool: asyncpg.Pool, tuning: Tuning, booking_id: int, room: str, visitor: str,
    known: KnownSeats,
) -> dict[str, Any]:
    """Cancel a booking and free its seats. Cancelling twice answers the same."""
    freed: list[int] = []

    async def work(conn: Connection) -> dict[str, Any]:
        booking = await conn.fetchrow(queries.LOCK_BOOKING, booking_id)
        if booking is None or booking["visitor"] != visitor or booking["room"] != room:
            raise BookingNotFound()
        if booking["status"] == "confirmed":
            changed = await conn.fetch(queries.FREE_SEATS_OF_BOOKING, booking_id)
            await conn.execute(queries.END_BOOKING_SEATS, booking_id)
            await conn.execute(queries.CANCEL_BOOKING, booking_id)
            await notify_seats(conn, booking["event_id"], changed)
            freed[:] = [r["id"] for r in changed]
        return {"booking_id": booking_id, "status": "cancelled"}

    result = await run_write(pool, tuning, work)
    # Committed: this process's next hold on these seats must not wait for the notice.
    known.forget(freed)
    log.info("booking %d cancelled", booking_id)
    return result


async def list_bookings(
    pool: asyncpg.Pool, tuning: Tuning, event_id: int, visitor: str
) -> list[dict[str, Any]]:
    async def work(conn: Connection) -> list[dict[str, Any]]:
        rows = await conn.fetch(queries.LIST_BOOKINGS, event_id, visitor)
        return [
            {
                "booking_id": r["id"],
                "event_id": event_id,
                "status": r["status"],
                "total": r["total"],
                "created_at": r["created_at"].isoformat(),
                "cancelled_at": r["cancelled_at"].isoformat() if r["cancelled_at"] else None,
                "seats": json.loads(r["seats"]),
            }
            for r in rows
        ]

    return await run_read(pool, tuning, work)
