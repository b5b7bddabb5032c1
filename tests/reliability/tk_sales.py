"""Buyers driving the ticketing app over HTTP, and the sale invariants read from PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fault_support import ADMIN_HEADERS, SECRET, Recorder, pg_connect, repeat

from fairgate.tokens import Signer

SIGNER = Signer((SECRET,))


@dataclass
class Sale:
    """One event and what its buyers were told: every acknowledged hold, booking, session."""

    rec: Recorder
    base: str
    event_id: int = 0
    room: str = ""
    seat_ids: list[int] = field(default_factory=list)
    sessions: list[dict[str, str]] = field(default_factory=list)
    holds: set[int] = field(default_factory=set)  # answered 201
    bookings: dict[int, int] = field(default_factory=dict)  # booking -> hold, answered 201
    confirm_503: set[int] = field(default_factory=set)  # holds whose confirm answered 503
    used_tokens: list[str] = field(default_factory=list)  # exchanged (answered 200)

    async def open(self, *, seats: int = 1000, buyers: int = 20) -> None:
        self.room = f"rel{secrets.token_hex(4)}"
        rows = seats // 40
        out = await self.rec.call("admin", "POST", f"{self.base}/admin/api/events",
                                  headers=ADMIN_HEADERS, json={
                                      "name": f"Fault test {self.room}", "room": self.room,
                                      "per_visitor_limit": 50, "hold_ttl_s": 600,
                                      "sections": [{"name": "A", "rows": rows,
                                                    "seats_per_row": 40, "price": 1000}]})
        assert out.status == 201, out
        self.event_id = out.body["id"]
        for _ in range(buyers):
            headers = await self.enter()
            assert headers is not None
            self.sessions.append(headers)
        out = await self.rec.call("seats", "GET", f"{self.base}/api/events/{self.event_id}/seats",
                                  headers=self.sessions[0])
        assert out.status == 200, out
        self.seat_ids = [s["id"] for s in out.body["seats"]]

    async def enter(self) -> dict[str, str] | None:
        """Exchange a fresh admission token for a session (bearer headers, or None)."""
        token = SIGNER.admission(self.room, secrets.token_hex(16), 1, time.time() + 600)
        out = await self.rec.call("session", "POST", f"{self.base}/api/session",
                                  json={"token": token})
        if out.status != 200:
            return None
        self.used_tokens.append(token)
        return {"Authorization": f"Bearer {out.body['session']}"}

    async def buy_once(self, headers: dict[str, str]) -> None:
        """Hold one or two random seats; then confirm (mostly) or release the hold."""
        seats = random.sample(self.seat_ids, random.choice((1, 2)))
        out = await self.rec.call(
            "hold", "POST", f"{self.base}/api/events/{self.event_id}/holds",
            headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
            json={"seat_ids": seats})
        if out.status != 201:
            return
        hold = out.body["hold_id"]
        self.holds.add(hold)
        if random.random() < 0.2:
            await self.rec.call("release", "DELETE", f"{self.base}/api/holds/{hold}",
                                headers=headers)
            return
        out = await self.rec.call("confirm", "POST", f"{self.base}/api/holds/{hold}/confirm",
                                  headers=headers)
        if out.status == 201:
            self.bookings[out.body["booking_id"]] = hold
        elif out.status == 503:
            self.confirm_503.add(hold)

    @contextlib.asynccontextmanager
    async def load(self) -> AsyncIterator[None]:
        """Every buyer buying in a loop, plus newcomers exchanging tokens, while the block runs."""
        async def enter() -> None:
            await self.enter()

        stop = asyncio.Event()
        tasks = [asyncio.create_task(repeat(stop, 0.05, lambda h=h: self.buy_once(h)))
                 for h in self.sessions]
        tasks.append(asyncio.create_task(repeat(stop, 0.1, enter)))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)


# Each query counts rows that break an invariant; all must be 0.
BROKEN = {
    # A seat in two live bookings (the unique index forbids it; counted anyway).
    "double_sales": """
        SELECT count(*) FROM (SELECT bs.seat_id FROM booking_seats bs JOIN seats s
            ON s.id = bs.seat_id WHERE s.event_id = $1 AND bs.live
            GROUP BY bs.seat_id HAVING count(*) > 1) d""",
    # An active hold missing any of its seats: a partial hold.
    "partial_holds": """
        SELECT count(*) FROM holds h WHERE h.event_id = $1 AND h.status = 'active'
          AND EXISTS (SELECT 1 FROM unnest(h.seat_ids) sid LEFT JOIN seats s ON s.id = sid
                      WHERE s.hold_id IS DISTINCT FROM h.id OR s.status <> 'held')""",
    # A held seat whose hold is not active.
    "orphan_held_seats": """
        SELECT count(*) FROM seats s LEFT JOIN holds h ON h.id = s.hold_id
        WHERE s.event_id = $1 AND s.status = 'held' AND h.status IS DISTINCT FROM 'active'""",
    # A confirmed booking missing any of its hold's seats: a partial booking.
    "partial_bookings": """
        SELECT count(*) FROM bookings b JOIN holds h ON h.id = b.hold_id
        WHERE b.event_id = $1 AND b.status = 'confirmed'
          AND EXISTS (SELECT 1 FROM unnest(h.seat_ids) sid LEFT JOIN seats s ON s.id = sid
                      WHERE s.booking_id IS DISTINCT FROM b.id OR s.status <> 'sold')""",
    # A sold seat without its live booking row, or the other way round.
    "sold_not_booked": """
        SELECT count(*) FROM seats s LEFT JOIN booking_seats bs
          ON bs.seat_id = s.id AND bs.live
        WHERE s.event_id = $1 AND s.status = 'sold'
          AND bs.booking_id IS DISTINCT FROM s.booking_id""",
    "booked_not_sold": """
        SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
        JOIN seats s ON s.id = bs.seat_id
        WHERE b.event_id = $1 AND bs.live AND (s.status <> 'sold' OR s.booking_id <> b.id)""",
}


async def audit(sale: Sale, database_url: str) -> dict[str, Any]:
    """Invariant violations and what was acknowledged but is missing, read after the fault."""
    conn = await pg_connect(database_url)
    try:
        found = {name: await conn.fetchval(sql, sale.event_id) for name, sql in BROKEN.items()}
        holds = {r["id"] for r in await conn.fetch(
            "SELECT id FROM holds WHERE event_id = $1", sale.event_id)}
        bookings = {r["id"]: (r["hold_id"], r["status"]) for r in await conn.fetch(
            "SELECT id, hold_id, status FROM bookings WHERE event_id = $1", sale.event_id)}
        used = {r["token_id"] for r in await conn.fetch(
            "SELECT token_id FROM used_tokens WHERE room = $1", sale.room)}
        sold = await conn.fetchval(
            "SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'sold'", sale.event_id)
    finally:
        await conn.close()
    token_ids = {SIGNER.load_admission(t).token_id for t in sale.used_tokens}
    return {
        **found,
        "acknowledged_holds_lost": len(sale.holds - holds),
        "acknowledged_bookings_lost": sum(
            bookings.get(b, (None, ""))[0] != h for b, h in sale.bookings.items()),
        "exchanged_tokens_forgotten": len(token_ids - used),
        "confirm_503_but_booked": sum(
            any(h == hold for h, _ in bookings.values()) for hold in sale.confirm_503),
        "sold": sold,
        "bookings": len(bookings),
    }
