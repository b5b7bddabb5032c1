"""Events and their seat layouts: creation, lookup, the seat map and the reconciliation report."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from asyncpg.exceptions import UniqueViolationError

from fairgate.names import ROOM_NAME
from fairgate.web import Conflict, ValidationFailed

from . import queries
from .db import Connection, run_read, run_write
from .errors import DatabaseUnavailable, EventNotFound
from .tuning import Tuning

log = logging.getLogger(__name__)

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# Control characters (PostgreSQL's text refuses NUL; none belongs in a name).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Big enough for an arena, small enough that one map stays one quick query and response.
MAX_SEATS_PER_EVENT = 20_000
MAX_SECTIONS = 26
MAX_ROWS = 100
MAX_SEATS_PER_ROW = 100
MAX_PRICE = 10**12


@dataclass(frozen=True)
class Section:
    name: str
    rows: int
    seats_per_row: int
    price: int


@dataclass(frozen=True)
class NewEvent:
    name: str
    room: str
    per_visitor_limit: int
    hold_ttl_s: int
    currency: str
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    sections: tuple[Section, ...]


def _int_field(body: dict[str, Any], name: str, low: int, high: int,
               default: int | None = None) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}.",
                               code="invalid_event", field=name)
    return value


def _str_field(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None,
               default: str | None = None, max_len: int = 200) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len or (
        pattern is not None and not pattern.match(value)
    ) or _CONTROL.search(value.strip()):
        raise ValidationFailed(f"{name} is missing or not valid.", code="invalid_event",
                               field=name)
    return value.strip()


def _in_utc_range(moment: datetime) -> bool:
    """Whether ``moment`` stays within years 1-9999 once in UTC, as PostgreSQL stores it: an
    offset can take a time near either end outside them."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _time_field(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not _in_utc_range(parsed):
        raise ValidationFailed(f"{name} must be an ISO 8601 time with a UTC offset.",
                               code="invalid_event", field=name)
    return parsed


def parse_new_event(body: dict[str, Any]) -> NewEvent:
    """Validate an admin create-event body (see the README of the ticketing app)."""
    sections_raw = body.get("sections")
    if not isinstance(sections_raw, list) or not 1 <= len(sections_raw) <= MAX_SECTIONS:
        raise ValidationFailed(f"sections must list 1 to {MAX_SECTIONS} sections.",
                               code="invalid_event", field="sections")
    sections = []
    for i, raw in enumerate(sections_raw):
        if not isinstance(raw, dict):
            raise ValidationFailed("each section must be an object.", code="invalid_event",
                                   field="sections")
        try:
            sections.append(Section(
                name=_str_field(raw, "name", max_len=40),
                rows=_int_field(raw, "rows", 1, MAX_ROWS),
                seats_per_row=_int_field(raw, "seats_per_row", 1, MAX_SEATS_PER_ROW),
                price=_int_field(raw, "price", 0, MAX_PRICE),
            ))
        except ValidationFailed as exc:
            # Which section: "name" alone reads like the event's own name.
            where = f"sections[{i}].{exc.fields['field']}"
            raise ValidationFailed(f"{where}: {exc.message}", code="invalid_event",
                                   field=where) from None
    if len({s.name for s in sections}) != len(sections):
        raise ValidationFailed("section names must differ.", code="invalid_event",
                               field="sections")
    if sum(s.rows * s.seats_per_row for s in sections) > MAX_SEATS_PER_EVENT:
        raise ValidationFailed(f"an event has at most {MAX_SEATS_PER_EVENT} seats.",
                               code="invalid_event", field="sections")
    event = NewEvent(
        name=_str_field(body, "name"),
        room=_str_field(body, "room", ROOM_NAME, max_len=63),
        per_visitor_limit=_int_field(body, "per_visitor_limit", 1, 50, default=4),
        hold_ttl_s=_int_field(body, "hold_ttl_s", 1, 3600, default=300),
        currency=_str_field(body, "currency", CURRENCY_RE, default="USD"),
        sale_starts_at=_time_field(body, "sale_starts_at"),
        sale_ends_at=_time_field(body, "sale_ends_at"),
        sections=tuple(sections),
    )
    if event.sale_starts_at and event.sale_ends_at and event.sale_starts_at >= event.sale_ends_at:
        raise ValidationFailed("sale_ends_at must be after sale_starts_at.",
                               code="invalid_event", field="sale_ends_at")
    return event


async def create_event(pool: asyncpg.Pool, tuning: Tuning, new: NewEvent) -> int:
    """Insert the event and all of its seats in one transaction."""
    sections, rows, numbers, labels, prices = [], [], [], [], []
    for section in new.sections:
        for row in range(1, section.rows + 1):
            for number in range(1, section.seats_per_row + 1):
                sections.append(section.name)
                rows.append(str(row))
                numbers.append(number)
                labels.append(f"{section.name} {row}-{number}")
                prices.append(section.price)

    async def work(conn: Connection) -> int:
        event_id = await conn.fetchval(
            queries.INSERT_EVENT, new.name, new.room, new.per_visitor_limit, new.hold_ttl_s,
            new.currency, new.sale_starts_at, new.sale_ends_at,
        )
        await conn.execute(queries.INSERT_SEATS, event_id, sections, rows, numbers, labels,
                           prices)
        return event_id

    try:
        event_id = await run_write(pool, tuning, work)
    except UniqueViolationError:
        raise Conflict("An event already sells seats for this room.",
                       code="room_taken") from None
    await refresh_seat_statistics(pool, tuning)
    return event_id


async def refresh_seat_statistics(pool: asyncpg.Pool, tuning: Tuning) -> None:
    """ANALYZE the seats table after an event added its rows.

    Each pooled connection keeps the plan PostgreSQL chose for a prepared statement until the
    table's statistics change. Plans chosen while the table was small scan all of it for a
    hold's two seats; with an event's thousands of new rows, that was one full scan of the
    seats table per statement, until autovacuum got round to an analyze (a minute or more).
    Fresh statistics replace those plans at once with index look-ups.

    SKIP_LOCKED: when autovacuum is working on the table, it analyzes it itself and this
    returns at once. A failure (an error, a lost connection, no free pooled connection, the
    command timeout) is logged, never reported to the caller: the event exists, and autovacuum
    analyzes the table later.
    """
    try:
        await run_read(pool, tuning, lambda c: c.execute(queries.ANALYZE_SEATS))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, DatabaseUnavailable,
            TimeoutError) as exc:
        log.warning("seat statistics not refreshed: %s: %s", exc.__class__.__name__, exc)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "name": row["name"],
        "room": row["room"],
        "per_visitor_limit": row["per_visitor_limit"],
        "hold_ttl_s": row["hold_ttl_s"],
        "currency": row["currency"],
        "sale_starts_at": row["sale_starts_at"].isoformat() if row["sale_starts_at"] else None,
        "sale_ends_at": row["sale_ends_at"].isoformat() if row["sale_ends_at"] else None,
    }
    if "seat_count" in row.keys():  # a Record: `in` alone would search its values
        out["seat_count"] = row["seat_count"]
    return out


async def get_event(pool: asyncpg.Pool, tuning: Tuning, event_id: int) -> asyncpg.Record:
    row = await run_read(pool, tuning, lambda c: c.fetchrow(queries.EVENT_BY_ID, event_id))
    if row is None:
        raise EventNotFound()
    return row


async def event_by_room(pool: asyncpg.Pool, tuning: Tuning, room: str) -> asyncpg.Record | None:
    return await run_read(pool, tuning, lambda c: c.fetchrow(queries.EVENT_BY_ROOM, room))


class EventCache:
    """Event rows by id and by room, kept per process.

    Events do not change once created (the API has no update), so every hold and page view
    can skip a round trip; the time limit only bounds staleness after a manual database edit.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_s: float = 60.0) -> None:
        self._ttl = ttl_s
        self._rows: dict[tuple[str, object], tuple[float, asyncpg.Record]] = {}

    def _get(self, key: tuple[str, object]) -> asyncpg.Record | None:
        hit = self._rows.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def _put(self, row: asyncpg.Record) -> None:
        if len(self._rows) >= self.MAX_ENTRIES:
            self._rows.clear()
        until = time.monotonic() + self._ttl
        self._rows[("id", row["id"])] = (until, row)
        self._rows[("room", row["room"])] = (until, row)

    async def by_id(self, pool: asyncpg.Pool, tuning: Tuning, event_id: int) -> asyncpg.Record:
        """The event, or 404 (misses are not remembered: the event may be created next)."""
        row = self._get(("id", event_id))
        if row is None:
            row = await get_event(pool, tuning, event_id)
            self._put(row)
        return row

    async def by_room(self, pool: asyncpg.Pool, tuning: Tuning,
                      room: str) -> asyncpg.Record | None:
        row = self._get(("room", room))
        if row is None:
            row = await event_by_room(pool, tuning, room)
            if row is not None:
                self._put(row)
        return row


async def list_events(pool: asyncpg.Pool, tuning: Tuning) -> list[dict[str, Any]]:
    rows = await run_read(pool, tuning, lambda c: c.fetch(queries.LIST_EVENTS))
    return [event_json(r) for r in rows]


@dataclass(frozen=True)
class SeatMap:
    version: int
    etag: str
    seats: list[dict[str, Any]]


async def seat_map(pool: asyncpg.Pool, tuning: Tuning, event_id: int) -> SeatMap:
    """The whole map in one query. The ETag covers the statuses shown, so a hold that expired
    (shown free before the sweeper rewrites it) changes the ETag too."""
    rows = await run_read(pool, tuning, lambda c: c.fetch(queries.SEAT_MAP, event_id))
    seats = [
        {
            "id": r["id"], "label": r["label"], "status": r["status"], "price": r["price"],
            "section": r["section"], "row": r["row_label"], "number": r["number"],
            "version": r["version"],
        }
        for r in rows
    ]
    version = max((r["version"] for r in rows), default=0)
    digest = hashlib.blake2b(digest_size=8)
    for r in rows:
        digest.update(f"{r['id']}:{r['status']}:{r['version']};".encode())
    return SeatMap(version, f'"{event_id}-{version}-{digest.hexdigest()}"', seats)


async def seat_changes_since(
    pool: asyncpg.Pool, tuning: Tuning, event_id: int, version: int
) -> list[dict[str, Any]]:
    rows = await run_read(
        pool, tuning, lambda c: c.fetch(queries.SEAT_CHANGES_SINCE, event_id, version)
    )
    return [{"id": r["id"], "status": r["status"], "version": r["version"]} for r in rows]


async def report(pool: asyncpg.Pool, tuning: Tuning, event_id: int) -> dict[str, Any]:
    """Reconciliation: seat states, bookings, revenue, and whether sold seats match bookings."""
    event = await get_event(pool, tuning, event_id)
    r = await run_read(pool, tuning, lambda c: c.fetchrow(queries.REPORT, event_id))
    return {
        "event": event_json(event),
        "seats": {
            "total": r["total"],
            "free": r["free"] + r["held_expired"],
            "held": r["held"],
            "held_expired": r["held_expired"],
            "sold": r["sold"],
        },
        "bookings": {"confirmed": r["bookings_confirmed"], "cancelled": r["bookings_cancelled"]},
        "booked_seats": r["booked_seats"],
        "revenue": r["revenue"],
        "consistent": r["sold"] == r["booked_seats"] and r["sold_mismatched"] == 0,
    }
