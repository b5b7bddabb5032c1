"""Join, poll and leave: the visitor's side of the queue (DESIGN section 2, steps 1, 2, 4, 5).

The poll is the hot path. A visitor whose number has not been called is answered from the
signed ticket and the process's room snapshot alone; Redis is touched per visitor only at join,
once their number is called (to learn whether they were admitted or skipped), and through the
batched heartbeat.
"""

from __future__ import annotations

import functools
import math
import operator
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter

from fairgate.logs import log_event
from fairgate.redisconn import RedisClient
from fairgate.tally import CounterTally
from fairgate.tokens import Signer, TokenError, new_visitor_id, random_bits31

from . import keys
from .batching import ScriptBatcher
from .errors import (
    NoTicket,
    RedisUnavailable,
    RoomClosed,
    RoomNotFound,
    RoomRejecting,
    TurnPassed,
)
from .eta import Estimate, FifoWaits, Rate, lottery_wait, rate_band
from .metrics import ADMISSIONS, JOINS, POLLS, RESTORES
from .snapshot import Heartbeats, RoomSnapshot, Snapshots
from .storage import REDIS_DOWN, Scripts
from .ticketcache import Verified, VerifiedTickets

# Visitors who arrive before ``opens_at`` hold a ticket for this pseudo-room: the suffix cannot
# occur in a room name, so such a ticket never passes for a numbered one. Its number is the
# arrival order, which does not decide anything.
PRE_SUFFIX = "/pre"

# Polling interval bounds (DESIGN: the expected wait / 4, between 1 s and 30 s, with jitter).
MIN_POLL_MS = 1_000
MAX_POLL_MS = 30_000
PAUSED_POLL_MS = 10_000
POLL_JITTER = 0.15
_JITTER_FROM, _JITTER_SPAN = 1 - POLL_JITTER, 2 * POLL_JITTER
# A ticket signed this long before a snapshot was read must be counted in that snapshot's
# ``issued`` (covers clock differences between machines).
CLOCK_MARGIN_S = 1.0


# The records below are built on every poll: plain slotted classes, because a frozen
# dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs several times more.
@dataclass(slots=True)
class HeldTicket:
    visitor: str
    number: int  # arrival order for a pre-queue ticket
    pre: bool
    raw: str
    issued_at: float  # time.time() when the ticket was signed


@dataclass(slots=True)
class Visit:
    """What a join or a poll tells the visitor."""

    room: str
    visitor: str
    ticket: str
    state: str  # waiting / admitted / paused / closed
    number: int | None
    serving: int
    position: int | None
    ahead: int | None
    eta_s: int | None
    admit_per_minute: int
    poll_after_ms: int
    redirect_url: str | None = None
    opens_at: float | None = None
    # [low, high] seconds the actual wait should fall in (eta.py); None when nobody is admitted.
    eta_range_s: list[int] | None = None
    mode: str = "fifo"  # the room's mode, for the page (not part of the JSON answers)

    def answer(self, *fields: str) -> dict[str, Any]:
        data = dict(zip(fields, _getter(fields)(self), strict=True))
        if self.redirect_url is not None:
            data["redirect_url"] = self.redirect_url
        if self.opens_at is not None:
            data["opens_at"] = self.opens_at
            data["opens_in_s"] = max(0, math.ceil(self.opens_at - time.time()))
        return data


JOIN_FIELDS = (
    "room", "number", "ticket", "position", "ahead", "eta_s", "eta_range_s", "poll_after_ms",
    "state",
)
STATUS_FIELDS = (
    "room", "state", "number", "serving", "position", "ahead", "eta_s", "eta_range_s",
    "admit_per_minute", "poll_after_ms",
)


@functools.cache
def _getter(fields: tuple[str, ...]) -> Callable[[Visit], tuple[Any, ...]]:
    return operator.attrgetter(*fields)  # type: ignore[return-value]


def place(number: int, serving: int) -> tuple[int, int]:
    """(position, people ahead) like a bank counter: numbers between "now serving" and yours.

    Depends only on ``serving``, which only rises, so the position shown never goes up.
    """
    ahead = number - serving - 1
    return (ahead + 1, ahead) if ahead > 0 else (1, 0)


def _band(snap: RoomSnapshot) -> Rate | None:
    config = snap.config
    return rate_band(
        config.admit_per_minute, snap.measured_per_minute, active=snap.active,
        max_active=config.max_active, session_ttl=config.session_ttl,
    )


def poll_after_ms(eta_s: float | None, rng: random.Random | None = None) -> int:
    """Often near the front, rarely far back: a quarter of the expected wait, jittered."""
    base = PAUSED_POLL_MS if eta_s is None else eta_s * 250  # a quarter, in ms
    # Uniform in 1 ± POLL_JITTER (what ``uniform`` computes, without its extra call).
    base *= _JITTER_FROM + _JITTER_SPAN * (rng or random).random()
    if base <= MIN_POLL_MS:  # comparisons rather than min()/max(): this runs on every poll
        return MIN_POLL_MS
    return MAX_POLL_MS if base >= MAX_POLL_MS else int(base)


class _Derived:
    """What a room snapshot implies for every numbered visitor, worked out once per snapshot
    rather than per poll: the room's state, whether it is a lottery, and how waits follow from
    a place in line (or, in a lottery, the one wait everybody shares)."""

    __slots__ = ("draw", "fifo", "lottery", "polls", "snap", "state")

    def __init__(self, snap: RoomSnapshot, slack_s: float) -> None:
        self.snap = snap
        self.polls = _tally(POLLS, snap.room)  # the room's poll count, looked up once
        self.state = room_state(snap)
        self.lottery = snap.config.mode == "random"
        band = _band(snap) if self.state == "waiting" else None  # no wait unless admitting
        self.fifo = None if band is None or self.lottery else FifoWaits(
            snap.noshow_ratio, band, slack_s=slack_s)
        self.draw = None if band is None or not self.lottery else lottery_wait(
            snap.queue_length, snap.noshow_ratio, band, slack_s=slack_s)

    def place(self, number: int) -> tuple[int | None, int | None, Estimate | None]:
        """Position, people ahead and the wait of ``number`` (no place in line in a lottery)."""
        if self.lottery:
            return None, None, self.draw
        position, ahead = place(number, self.snap.serving)
        return position, ahead, None if self.fifo is None else self.fifo(ahead)


def room_state(snap: RoomSnapshot) -> str:
    config = snap.config
    if config.state == "closed":
        return "closed"
    if config.state == "paused" or config.admit_per_minute == 0:
        return "paused"
    return "waiting"


def redirect_url(target_url: str, token: str) -> str:
    sep = "&" if "?" in target_url else "?"
    return f"{target_url}{sep}token={token}"


# Poll and join counts per room, tallied (fairgate.tally): a prometheus_client increment costs
# a lock and ``labels()`` a key per call, too much for every poll and join.
_TALLIES: dict[tuple[Counter, str], CounterTally] = {}


def _tally(counter: Counter, room: str) -> CounterTally:
    counted = _TALLIES.get((counter, room))
    if counted is None:
        counted = _TALLIES[counter, room] = CounterTally(counter.labels(room))
    return counted


@functools.lru_cache(maxsize=1024)
def _join_keys(room: str) -> tuple[str, ...]:
    """The KEYS of join.lua for ``room``, in the script's order: named once per room rather
    than on every join (13 names, 1.5 µs)."""
    k = keys.RoomKeys(room)
    return (k.config, k.issued, k.queue, k.seen, k.lapsed, k.active, k.serving, k.left,
            k.prequeue, k.preseq, k.prenum, k.admlog, k.recent)


class Queue:
    """The visitor-facing operations of every room served by this process."""

    def __init__(
        self,
        redis: RedisClient,
        scripts: Scripts,
        snapshots: Snapshots,
        heartbeats: Heartbeats,
        signer: Signer,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.snapshots = snapshots
        self.heartbeats = heartbeats
        self.signer = signer
        self.tickets = VerifiedTickets(signer)
        # Joins (and the polls that must ask Redis) of one room share round trips.
        self.join_calls = ScriptBatcher(scripts.join)
        self._derived: dict[str, _Derived] = {}
        # An admission is made at a tick and seen at the next snapshot: an ETA's range allows
        # for both.
        self.slack_s = snapshots.admitter.debounce_s + snapshots.interval_s

    def read_ticket(self, room: str, raw: str | None, snap: RoomSnapshot) -> HeldTicket | None:
        """The visitor's ticket for this room; forged, expired or foreign ones count as none."""
        fields = self._ticket_fields(room, raw, snap)
        if fields is None:
            return None
        t_room, visitor, number, issued_at = fields
        return HeldTicket(visitor, number, t_room != room, raw or "", issued_at)

    def _ticket_fields(self, room: str, raw: str | None, snap: RoomSnapshot) -> Verified | None:
        """A valid ticket's fields (its room is ``room`` or its pre-queue), or None."""
        if not raw:
            return None
        try:
            fields = self.tickets.load(raw)
        except TokenError:
            return None
        t_room, issued_at = fields[0], fields[3]
        if t_room != room and t_room != room + PRE_SUFFIX:
            return None
        # A ticket from before the room was (re)created belongs to another sale.
        if issued_at < snap.config.created_at - 1:
            return None
        return fields

    async def join(self, room: str, raw: str | None, *, allow_fresh: bool = True) -> Visit:
        """The visitor's place, or a new one when ``allow_fresh`` and the ticket is spent."""
        snap = await self.snapshots.get(room)
        held = self.read_ticket(room, raw, snap)
        return await self._claim(room, snap, held, allow_fresh=allow_fresh)

    async def status(self, room: str, raw: str | None) -> Visit:
        snap = await self.snapshots.get(room)
        held = self.read_ticket(room, raw, snap)
        if held is None:
            raise NoTicket()
        _tally(POLLS, room).n += 1
        if held.pre:
            opens_at = snap.config.opens_at
            if opens_at is not None and time.time() < opens_at:
                return self._pre_visit(room, snap, held.visitor, held.raw)
            return await self._claim(room, snap, held, allow_fresh=True)
        if snap.config.mode == "random":
            # A lottery calls numbers in no order, so "now serving" cannot tell who was drawn:
            # each poll asks Redis (the join script, which also records the visit).
            return await self._claim(room, snap, held, allow_fresh=False)
        if held.number <= snap.serving:
            # Called: admitted, skipped while away, or finished. Only now ask Redis.
            return await self._claim(room, snap, held, allow_fresh=False)
        if held.number > snap.issued and self._issued_before(held, snap):
            # Redis's counter is behind a number handed out before it was read: a failover lost
            # the join. Put the place back now, so no newcomer is given the same number.
            return await self._claim(room, snap, held, allow_fresh=False)
        self.heartbeats.note(room, held.visitor, held.number)
        return self._numbered_visit(room, snap, held.visitor, held.number, held.raw)

    def _new_ticket(self, room: str, visitor: str, number: int) -> str:
        """A signed ticket, remembered as verified: the visitor's first poll here skips the
        signature check like every later one."""
        # itsdangerous stamps whole seconds read after this, so the remembered ticket expires
        # no later than the signature would.
        signed_at = float(int(time.time()))
        issued_at = time.time()
        raw = self.signer.ticket(room, visitor, number, issued_at)
        self.tickets.remember(raw, (room, visitor, number, issued_at), signed_at)
        return raw

    @staticmethod
    def _issued_before(held: HeldTicket, snap: RoomSnapshot) -> bool:
        """Whether the ticket was signed well before the snapshot was read from Redis."""
        read_at = time.time() - (time.monotonic() - snap.fetched_at)
        return held.issued_at + CLOCK_MARGIN_S < read_at

    async def leave(self, room: str, raw: str | None) -> bool:
        snap = await self.snapshots.get(room)
        held = self.read_ticket(room, raw, snap)
        if held is None:
            raise NoTicket()
        k = keys.RoomKeys(room)
        try:
            held_place = await self.scripts.leave(
                keys=[k.queue, k.seen, k.lapsed, k.active, k.left, k.prequeue, k.prenum],
                args=[held.visitor, 0 if held.pre else held.number],
            )
        except REDIS_DOWN as exc:
            raise RedisUnavailable() from exc
        return bool(held_place)

    async def _claim(
        self, room: str, snap: RoomSnapshot, held: HeldTicket | None, *, allow_fresh: bool,
        retried: bool = False,
    ) -> Visit:
        try:
            result = await self.join_calls(
                keys=_join_keys(room),
                args=[
                    held.visitor if held else "",
                    held.number if held and not held.pre else 0,
                    "1" if held and held.pre else "0",
                    new_visitor_id(),
                    random_bits31(),  # the pre-queue's shuffle seed, used at the opening
                    "1" if allow_fresh else "0",
                    self.snapshots.highest(room),
                ],
            )
        except REDIS_DOWN as exc:
            raise RedisUnavailable() from exc
        status = result[0]
        if status == "missing":
            if not retried:
                # Redis may have lost its data a moment ago, before this process's snapshot
                # noticed: a refresh restores the room (or confirms it is gone), then retry.
                snap = await self.snapshots.fresh(room)
                return await self._claim(room, snap, held, allow_fresh=allow_fresh, retried=True)
            self.snapshots.forget(room)
            raise RoomNotFound()
        if status == "closed":
            raise RoomClosed()
        if status == "rejected":
            raise RoomRejecting()
        visitor, number = str(result[1]), int(result[2])
        if status == "done":
            raise TurnPassed()
        if status == "pre":
            same = held is not None and held.pre and held.visitor == visitor
            raw = held.raw if same and held else self._new_ticket(
                room + PRE_SUFFIX, visitor, number
            )
            return self._pre_visit(room, snap, visitor, raw)
        if status in ("new", "entered"):
            _tally(JOINS, room).n += 1
            if status == "entered":  # let straight through (passthrough, standby)
                ADMISSIONS.labels(room).inc()
            log_event("join", app="waitingroom", room=room, visitor=visitor, number=number,
                      status=status)
        elif status == "restored":
            RESTORES.labels(room).inc()
        if held is not None and not held.pre and held.visitor == visitor and held.number == number:
            raw = held.raw
        else:
            raw = self._new_ticket(room, visitor, number)
        if status in ("admitted", "entered"):
            expires_at = float(result[3])
            token = self.signer.admission(room, visitor, number, expires_at)
            return Visit(
                room=room, visitor=visitor, ticket=raw, state="admitted", number=number,
                serving=max(snap.serving, number), position=0, ahead=0, eta_s=0,
                admit_per_minute=snap.config.admit_per_minute, poll_after_ms=MAX_POLL_MS,
                redirect_url=redirect_url(snap.config.target_url, token), eta_range_s=[0, 0],
            )
        return self._numbered_visit(room, snap, visitor, number, raw)

    def waiting_answer(self, room: str, raw: str | None) -> bytes | None:
        """The encoded status answer of a visitor still waiting for their number in a room
        whose snapshot is fresh: the poll's hot path, the same answer :meth:`status` gives.

        None when anything else is the case (no or bad ticket, a pre-queue ticket, a lottery,
        a called number, a number the snapshot has not seen, a snapshot due for a refresh
        nobody has started): :meth:`status` then decides, errors included.

        One method rather than a chain of small ones on purpose: under load a request's code
        runs with cold CPU caches, where each call costs more than its instructions suggest
        (docs/BENCHMARKS.md, "Seventh round").
        """
        snap = self.snapshots.current(room)
        if snap is None or not raw:
            return None
        try:
            t_room, visitor, number, issued_at = self.tickets.load(raw)
        except TokenError:
            return None
        # This room's own ticket (a pre-queue one is another's), from this sale (the rule of
        # _ticket_fields), for a number the snapshot has issued and not called.
        if (t_room != room or issued_at < snap.config.created_at - 1
                or not snap.serving < number <= snap.issued):
            return None
        derived = self._derived.get(room)
        if derived is None or derived.snap is not snap:
            derived = self._derive(room, snap)
        if derived.lottery:
            return None
        derived.polls.n += 1
        self.heartbeats.note(room, visitor, number)
        # (No snapshots.note_number: the number is within the snapshot's ``issued``.)
        # What place() and Visit.answer(*STATUS_FIELDS) give, without the Estimate and Visit.
        ahead = number - snap.serving - 1
        if derived.fifo is None:
            eta = eta_range = None
        else:
            eta, low, high = derived.fifo.bounds(ahead)
            eta_range = [low, high]
        return orjson.dumps({
            "room": room, "state": derived.state, "number": number, "serving": snap.serving,
            "position": ahead + 1, "ahead": ahead, "eta_s": eta, "eta_range_s": eta_range,
            "admit_per_minute": snap.config.admit_per_minute, "poll_after_ms": poll_after_ms(eta),
        })

    def _derive(self, room: str, snap: RoomSnapshot) -> _Derived:
        derived = self._derived.get(room)
        if derived is None or derived.snap is not snap:
            derived = self._derived[room] = _Derived(snap, self.slack_s)
        return derived

    def _numbered_visit(
        self, room: str, snap: RoomSnapshot, visitor: str, number: int, raw: str
    ) -> Visit:
        self.snapshots.note_number(room, number)
        derived = self._derive(room, snap)
        position, ahead, guess = derived.place(number)
        eta = guess.eta_s if guess else None
        return Visit(
            room=room, visitor=visitor, ticket=raw, state=derived.state, number=number,
            serving=snap.serving, position=position, ahead=ahead, eta_s=eta,
            admit_per_minute=snap.config.admit_per_minute,
            poll_after_ms=poll_after_ms(eta),
            eta_range_s=guess.range_s if guess else None, mode=snap.config.mode,
        )

    def _pre_visit(self, room: str, snap: RoomSnapshot, visitor: str, raw: str) -> Visit:
        """Before opening: no number yet (they are drawn at random at the opening)."""
        opens_at = snap.config.opens_at or time.time()
        wait = max(0.0, opens_at - time.time())
        state = "closed" if snap.config.state == "closed" else "waiting"
        return Visit(
            room=room, visitor=visitor, ticket=raw, state=state, number=None,
            serving=snap.serving, position=None, ahead=None, eta_s=math.ceil(wait),
            admit_per_minute=snap.config.admit_per_minute,
            poll_after_ms=poll_after_ms(wait), opens_at=opens_at,
        )
