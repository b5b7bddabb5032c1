"""A crowd of waiting-room visitors driven over HTTP, and what Redis says about them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fault_support import ADMIN_HEADERS, SECRET, Outcome, Recorder, repeat
from redis.asyncio import Redis

from fairgate.tokens import Signer
from waitingroom.keys import RoomKeys

SIGNER = Signer((SECRET,))
ROOM = {"target_url": "http://127.0.0.1:9/enter", "admit_per_minute": 0, "max_active": 1000,
        "session_ttl": 600}


@dataclass
class Crowd:
    rec: Recorder
    bases: list[str]
    room: str
    number_of: dict[str, int] = field(default_factory=dict)  # ticket -> number, every 200 join
    wrong: list[tuple[int, Any]] = field(default_factory=list)  # polls showing another number
    admitted: set[int] = field(default_factory=set)  # numbers seen with state "admitted"
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def base(self) -> str:
        return self.bases[next(self._turn) % len(self.bases)]

    async def configure(self, method: str = "PATCH", **config: Any) -> None:
        body = {**ROOM, **config} if method == "PUT" else config
        out = await self.rec.call("admin", method,
                                  f"{self.bases[0]}/admin/api/rooms/{self.room}",
                                  headers=ADMIN_HEADERS, json=body)
        assert out.status in (200, 201), out

    async def join(self, ticket: str | None = None) -> Outcome:
        headers = {"X-Queue-Ticket": ticket} if ticket else {}
        out = await self.rec.call("join", "POST", f"{self.base()}/api/rooms/{self.room}/join",
                                  headers=headers)
        if out.status == 200:
            self.number_of[out.body["ticket"]] = out.body["number"]
        return out

    async def poll(self, ticket_raw: str, base: str | None = None) -> Outcome:
        out = await self.rec.call("status", "GET",
                                  f"{base or self.base()}/api/rooms/{self.room}/status",
                                  headers={"X-Queue-Ticket": ticket_raw})
        if out.status == 200:
            if out.body["number"] != self.number_of[ticket_raw]:
                self.wrong.append((self.number_of[ticket_raw], out.body))
            if out.body["state"] == "admitted":
                self.admitted.add(out.body["number"])
                # The admission token is this visitor's, with this visitor's number.
                token = parse_qs(urlsplit(out.body["redirect_url"]).query)["token"][0]
                admission = SIGNER.load_admission(token)
                ticket = SIGNER.load_ticket(ticket_raw)
                if (admission.visitor, admission.number) != (ticket.visitor, ticket.number):
                    self.wrong.append((self.number_of[ticket_raw], out.body))
        return out

    async def poll_random(self) -> None:
        await self.poll(random.choice(list(self.number_of)))

    @contextlib.asynccontextmanager
    async def load(self, *, pollers: int, joiners: int) -> AsyncIterator[None]:
        """Visitors polling (20 a second each) and newcomers joining (5 a second each) for as
        long as the block runs."""
        async def join() -> None:
            await self.join()

        stop = asyncio.Event()
        tasks = [asyncio.create_task(repeat(stop, 0.05, self.poll_random))
                 for _ in range(pollers)]
        tasks += [asyncio.create_task(repeat(stop, 0.2, join)) for _ in range(joiners)]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    def tickets(self) -> list[str]:
        """Every ticket handed out, in number order."""
        return sorted(self.number_of, key=self.number_of.__getitem__)

    async def poll_everyone(self) -> list[Outcome]:
        """One poll per ticket, in number order."""
        return list(await asyncio.gather(*(self.poll(t) for t in self.tickets())))

    def visitor_numbers(self) -> dict[str, int]:
        return {SIGNER.load_ticket(t).visitor: n for t, n in self.number_of.items()}


@dataclass(frozen=True)
class RoomState:
    issued: int
    serving: int
    admitted: list[int]  # numbers of known visitors in ``active``
    queued: list[int]  # every number in ``queue`` (scores), ghosts included
    ghosts: int  # visitors in Redis that no HTTP client ever received a ticket for
    # After an empty restart: the placeholders that hold admitted sessions' max_active slots,
    # and when they end (unix s; 0 when there are none).
    held_slots: int = 0
    held_until: float = 0.0


async def room_state(redis_url: str, crowd: Crowd) -> RoomState:
    known = crowd.visitor_numbers()
    k = RoomKeys(crowd.room)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        issued = int(await client.get(k.issued) or 0)
        serving = int(await client.get(k.serving) or 0)
        active = await client.zrange(k.active, 0, -1, withscores=True)
        queue = await client.zrange(k.queue, 0, -1, withscores=True)
    finally:
        await client.aclose()
    held = [end for v, end in active if v.startswith("restored:")]
    visitors = [v for v, _ in active if not v.startswith("restored:")]
    ghosts = sum(v not in known for v in visitors) + sum(v not in known for v, _ in queue)
    return RoomState(issued, serving, sorted(known[v] for v in visitors if v in known),
                     sorted(int(n) for _, n in queue), ghosts, len(held), max(held, default=0.0))


async def session_ends(redis_url: str, crowd: Crowd) -> dict[int, float]:
    """When each known admitted visitor's session ends (unix s), by number."""
    known = crowd.visitor_numbers()
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        active = await client.zrange(RoomKeys(crowd.room).active, 0, -1, withscores=True)
    finally:
        await client.aclose()
    return {known[v]: end for v, end in active if v in known}


def admitted_in_order(state: RoomState) -> bool:
    """Every admitted number is below every number still waiting."""
    return not state.admitted or not state.queued or max(state.admitted) < min(state.queued)
