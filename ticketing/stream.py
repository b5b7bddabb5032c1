"""Live seat changes: one LISTEN connection per process fans out to every open seat page.

Writers ``NOTIFY`` the changed seats (id, status, version) in the transaction that changes them,
so a notice arrives only after commit. The hub merges notices per event for a short window and
sends each subscriber one message per window: a burst of 500 changes becomes a few messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg

from . import queries

log = logging.getLogger(__name__)

CHANNEL = "tk_seats"
# NOTIFY payloads must stay under 8000 bytes; a seat entry is at most ~40 bytes of JSON.
SEATS_PER_NOTICE = 150
# A subscriber this far behind is dropped; its page reconnects and reloads the map.
SUBSCRIBER_QUEUE = 64


def notices(event_id: int, rows: list[asyncpg.Record]) -> list[str]:
    """NOTIFY payloads for changed seat rows (id, status, version) of one event."""
    out = []
    for start in range(0, len(rows), SEATS_PER_NOTICE):
        chunk = rows[start:start + SEATS_PER_NOTICE]
        out.append(json.dumps(
            {"e": event_id, "s": [[r["id"], r["status"], r["version"]] for r in chunk]},
            separators=(",", ":"),
        ))
    return out


async def notify_seats(conn: asyncpg.Connection, event_id: int, rows: list[asyncpg.Record]) -> None:
    """Queue seat-change notices inside the caller's transaction (delivered on commit)."""
    for payload in notices(event_id, rows):
        await conn.execute(queries.NOTIFY, CHANNEL, payload)


class KnownSeats:
    """Seats this process knows are taken, learnt from the seat notices: held (by whom the
    notice does not say) or sold (to whom a confirm's notice says). Two shortcuts of a hold:

    * ``sold_to_others``: every seat asked for is known sold, in that event, to another buyer.
      The hold is refused (409) without a query; after the last seats of a hot section go, the
      crowd still clicking on them costs PostgreSQL nothing.
    * ``any_taken``: whether any seat asked for is known held or sold. Only then does a hold
      first take the lock-free look (PEEK_HOLD) that refuses without locks; for seats nobody
      else took it would be a round trip that finds nothing. The locking transaction decides
      every case the look decides, the same way, so skipping it changes the cost, not the
      answer.

    Positive knowledge only, and only what the listener saw. A seat enters with the notice of the
    hold or confirm that took it and leaves with its next notice (a release, expiry or cancel
    frees it); a cancel in this process forgets its seats at once. Everything is forgotten
    whenever the listener connects again, as notices may have been missed meanwhile. So a seat
    taken a moment ago elsewhere may not be known yet (the hold then goes to PostgreSQL, whose
    locks decide), and a seat freed elsewhere is still known as taken for the notice's delay, a
    few milliseconds: the answer a look that much earlier would have given.
    """

    # Known seats kept at most; past this the set starts again (it is only a shortcut).
    MAX_SEATS = 1_000_000

    def __init__(self) -> None:
        # seat -> (event, version, buyer); the buyer is "" while the seat is only held.
        self._seats: dict[int, tuple[int, int, str]] = {}

    def __len__(self) -> int:
        return len(self._seats)

    def note(self, event_id: int, seat_id: int, status: str, version: int, buyer: str) -> None:
        known = self._seats.get(seat_id)
        if known is not None and known[1] >= version:
            return  # an older notice than the one already seen
        if status == "held" or status == "sold":
            if known is None and len(self._seats) >= self.MAX_SEATS:
                self._seats.clear()
            self._seats[seat_id] = (event_id, version, buyer if status == "sold" else "")
        elif known is not None:
            del self._seats[seat_id]

    def forget(self, seat_ids: list[int]) -> None:
        for seat_id in seat_ids:
            self._seats.pop(seat_id, None)

    def clear(self) -> None:
        self._seats.clear()

    def sold_to_others(self, event_id: int, visitor: str, seat_ids: list[int]) -> bool:
        """Whether every one of ``seat_ids`` is known sold, in ``event_id``, to someone other
        than ``visitor`` (a visitor's own purchase is left to PostgreSQL, where a retried
        request finds its first answer)."""
        seats = self._seats
        for seat_id in seat_ids:
            known = seats.get(seat_id)
            if known is None or known[0] != event_id or not known[2] or known[2] == visitor:
                return False
        return True

    def any_taken(self, seat_ids: list[int]) -> bool:
        """Whether a notice said that any one of ``seat_ids`` was held or sold."""
        seats = self._seats
        for seat_id in seat_ids:
            if seat_id in seats:
                return True
        return False


class Subscription:
    """One open stream: a bounded queue of ready-to-send SSE frames."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(SUBSCRIBER_QUEUE)


class SeatHub:
    """The process's LISTEN connection, the coalescing window and the subscribers."""

    def __init__(self, database_url: str, coalesce_s: float) -> None:
        self._url = database_url
        self._coalesce_s = coalesce_s
        self._subs: dict[int, set[Subscription]] = {}
        self._pending: dict[int, dict[int, tuple[str, int]]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self.messages_sent = 0
        self.known = KnownSeats()

    async def start(self) -> None:
        """Start listening; returns once the LISTEN is in place (or after a short wait)."""
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="tk-seat-listener"),
            asyncio.create_task(self._flush_forever(), name="tk-seat-flusher"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def stop(self) -> None:
        self.close_all()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def close_all(self) -> None:
        """End every open stream (shutdown): each handler returns when it reads ``None``."""
        for subs in self._subs.values():
            for sub in subs:
                _offer(sub, None)

    def subscribe(self, event_id: int) -> Subscription:
        sub = Subscription(event_id)
        self._subs.setdefault(event_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.event_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.event_id]

    def _on_notice(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            event_id = int(data["e"])
            seats = [(int(i), str(s), int(v)) for i, s, v in data["s"]]
            buyer = str(data.get("b") or "")  # a confirm's notice names the buyer
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring malformed seat notice")
            return
        for seat_id, status, version in seats:
            self.known.note(event_id, seat_id, status, version, buyer)
        if event_id not in self._subs:
            return
        pending = self._pending.setdefault(event_id, {})
        for seat_id, status, version in seats:
            known = pending.get(seat_id)
            if known is None or known[1] < version:
                pending[seat_id] = (status, version)
        self._wake.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            # The window: changes that land while we sleep join this message.
            await asyncio.sleep(self._coalesce_s)
            self._wake.clear()
            pending, self._pending = self._pending, {}
            for event_id, seats in pending.items():
                frame = sse_frame("seats", {
                    "event_id": event_id,
                    "seats": [{"id": i, "status": s, "version": v}
                              for i, (s, v) in sorted(seats.items())],
                })
                self._broadcast(event_id, frame)

    def _broadcast(self, event_id: int, frame: str | None) -> None:
        for sub in list(self._subs.get(event_id, ())):
            if not _offer(sub, frame):
                self.unsubscribe(sub)
            else:
                self.messages_sent += 1

    def _resync_all(self) -> None:
        """After the listener reconnects, notices may have been missed: pages reload the map."""
        for event_id in list(self._subs):
            self._broadcast(event_id, sse_frame("resync", {"event_id": event_id}))

    async def _listen_forever(self) -> None:
        delay = 0.5
        first = True
        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url)
                conn.add_termination_listener(lambda _c, ev=lost: ev.set())
                self.known.clear()  # what changed while nobody listened is not known
                await conn.add_listener(CHANNEL, self._on_notice)
                self._listening.set()
                if not first:
                    self._resync_all()
                first, delay = False, 0.5
                await lost.wait()
                log.warning("seat listener connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("seat listener cannot connect (%s); retrying in %.1fs",
                            exc.__class__.__name__, delay)
            finally:
                self.known.clear()  # notices may go missing from now until the next LISTEN
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(OSError, asyncpg.PostgresError,
                                             asyncpg.InterfaceError):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def _offer(sub: Subscription, frame: str | None) -> bool:
    try:
        sub.queue.put_nowait(frame)
    except asyncio.QueueFull:
        with contextlib.suppress(asyncio.QueueEmpty):
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)  # too far behind: end the stream, the page reloads
        return False
    return True


def sse_frame(event: str, data: dict[str, Any]) -> str:
    """One server-sent event (``data`` is one JSON line)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
