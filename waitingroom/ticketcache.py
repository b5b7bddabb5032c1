"""Tickets this process has already verified, so a visitor's later polls skip the signature.

A waiting visitor polls with the same ticket string for the whole wait. Checking its signature
(itsdangerous: key derivation, HMAC, base64, JSON) costs more than the rest of the status
handler together, so the first successful check is remembered under the exact string (and a
ticket this process signs is remembered when it is made). Nothing is given up: a string is
remembered only after it verified or was signed here, and a remembered ticket still
expires at ``max_age`` counted from its signing time, as the signature check counts it. The
caller keeps checking room and creation time on every poll.

Memory is bounded by two generations: new entries go into the young one; when it is full, it
becomes the old one and the previous old one is dropped. A ticket used in either generation is
(re)written to the young one, so a visitor who keeps polling stays remembered. Entries are
plain tuples of strings and numbers, which Python's garbage collector stops tracking: with
objects instead, every full collection walked all 100,000 entries and stalled polls for 100 ms
and more every few seconds (bench.waitingroom, 100,000 visitors polling).
"""

from __future__ import annotations

import sys
import time

from fairgate.tokens import TICKET_MAX_AGE_S, Signer, TokenExpired

# (room, visitor, number, issued_at) of a verified ticket.
Verified = tuple[str, str, int, float]

# Entries per generation. Every waiting visitor polls about as often as every other, so a
# generation must hold all of a process's pollers: with 100,000 visitors polling one process
# and 50,000 per generation, 85% of repeat polls missed (a simulation of the rotation, and the
# signature check was a fifth of the server's CPU in bench.waitingroom's 100,000-visitor run).
# Two generations hold at most 200,000 tickets, about 100 MB at ~500 bytes each (the ticket
# string, the parsed ticket and the dict slot); a process serving more waiting visitors than
# 100,000 re-verifies many of their polls.
GENERATION_SIZE = 100_000


class VerifiedTickets:
    def __init__(
        self,
        signer: Signer,
        *,
        generation_size: int = GENERATION_SIZE,
        max_age: float = TICKET_MAX_AGE_S,
    ) -> None:
        self._signer = signer
        self._size = generation_size
        self._max_age = max_age
        self._young: dict[str, tuple[str, str, int, float, float]] = {}
        self._old: dict[str, tuple[str, str, int, float, float]] = {}
        self.hits = 0
        self.misses = 0

    def load(self, raw: str) -> Verified:
        """The verified ticket's fields; raises :class:`fairgate.tokens.TokenError` like the
        signer."""
        entry = self._young.get(raw)
        if entry is None:
            entry = self._old.pop(raw, None)
            if entry is None:
                self.misses += 1
                t, signed_at = self._signer.load_ticket_stamped(raw, self._max_age)
                # One room string for all its visitors' entries, not one per entry.
                entry = (sys.intern(t.room), t.visitor, t.number, t.issued_at, signed_at)
            else:
                self.hits += 1
            self._remember(raw, entry)
        else:
            self.hits += 1
        if time.time() - entry[4] > self._max_age:
            self._young.pop(raw, None)
            raise TokenExpired("token expired")
        return entry[:4]

    def remember(self, raw: str, ticket: Verified, signed_at: float) -> None:
        """A ticket this process has just signed (so it is genuine), with its signing time."""
        self._remember(raw, (*ticket, signed_at))

    def _remember(self, raw: str, entry: tuple[str, str, int, float, float]) -> None:
        if len(self._young) >= self._size:
            self._old = self._young
            self._young = {}
        self._young[raw] = entry

    def __len__(self) -> int:
        return len(self._young) + len(self._old)
