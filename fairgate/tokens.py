"""Signed tokens shared by both apps (DESIGN section 3).

One itsdangerous serializer per purpose (its salt), so a token of one kind never verifies as
another. ``SECRET_KEYS`` lists keys newest first: the newest signs, all of them verify, so a key
can be rotated in without logging anyone out. Every ``loads`` enforces ``max_age``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

TICKET = "ticket"
ADMISSION = "admission"
SESSION = "session"
PURPOSES = (TICKET, ADMISSION, SESSION)

# A ticket proves a place in the queue for as long as a sale can last.
TICKET_MAX_AGE_S = 7 * 24 * 3600
# An admission token only carries a visitor from the waiting room to the ticketing app.
ADMISSION_MAX_AGE_S = 120
# A ticketing session lives at most as long as the longest admission (session_ttl caps it too).
SESSION_MAX_AGE_S = 6 * 3600


class TokenError(Exception):
    """The token is malformed, forged, of another purpose, or signed with an unknown key."""


class TokenExpired(TokenError):
    """The token was genuine but is older than its ``max_age``."""


def new_visitor_id() -> str:
    """128 random bits, hex."""
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Ticket:
    room: str
    visitor: str
    number: int
    issued_at: float


@dataclass(frozen=True, slots=True)
class Admission:
    room: str
    visitor: str
    number: int
    token_id: str
    issued_at: float
    # When the admission slot ends (the waiting room's session_ttl); the ticketing session ends
    # then too.
    expires_at: float


@dataclass(frozen=True, slots=True)
class Session:
    room: str
    visitor: str
    session_id: str
    expires_at: float


class Signer:
    """Signs and verifies the three kinds of token with a rotating key list."""

    def __init__(self, secret_keys: tuple[str, ...] | list[str]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is required")
        # itsdangerous wants keys oldest to newest and signs with the last one.
        keys = list(reversed(secret_keys))
        self._serializers = {
            purpose: URLSafeTimedSerializer(keys, salt=f"fairgate.{purpose}")
            for purpose in PURPOSES
        }

    def _dumps(self, purpose: str, payload: list[Any]) -> str:
        return self._serializers[purpose].dumps(payload)

    def _loads(self, purpose: str, token: str, max_age: float) -> list[Any]:
        return self._loads_stamped(purpose, token, max_age)[0]

    def _loads_stamped(self, purpose: str, token: str, max_age: float) -> tuple[list[Any], float]:
        """The payload and when the token was signed (unix seconds, as ``max_age`` counts)."""
        if not isinstance(token, str) or not token or len(token) > 2048:
            raise TokenError("malformed token")
        try:
            payload, signed = self._serializers[purpose].loads(
                token, max_age=max_age, return_timestamp=True
            )
        except SignatureExpired as exc:
            raise TokenExpired("token expired") from exc
        except BadData as exc:
            raise TokenError("invalid token") from exc
        if not isinstance(payload, list):
            raise TokenError("invalid token payload")
        return payload, signed.timestamp()

    # -- tickets ----------------------------------------------------------------------------
    def ticket(self, room: str, visitor: str, number: int, issued_at: float | None = None) -> str:
        return self._dumps(TICKET, [room, visitor, number, issued_at or time.time()])

    def load_ticket(self, token: str, max_age: float = TICKET_MAX_AGE_S) -> Ticket:
        return self.load_ticket_stamped(token, max_age)[0]

    def load_ticket_stamped(
        self, token: str, max_age: float = TICKET_MAX_AGE_S
    ) -> tuple[Ticket, float]:
        """The ticket and when it was signed, so a caller that remembers verified tickets can
        still let each one expire at ``max_age``."""
        p, signed_at = self._loads_stamped(TICKET, token, max_age)
        try:
            room, visitor, number, issued = p
            return Ticket(str(room), str(visitor), _positive_int(number), float(issued)), signed_at
        except (TypeError, ValueError) as exc:
            raise TokenError("invalid ticket payload") from exc

    # -- admission tokens ------------------------------------------------------------------
    def admission(self, room: str, visitor: str, number: int, expires_at: float) -> str:
        return self._dumps(
            ADMISSION, [room, visitor, number, uuid.uuid4().hex, time.time(), expires_at]
        )

    def load_admission(self, token: str, max_age: float = ADMISSION_MAX_AGE_S) -> Admission:
        p = self._loads(ADMISSION, token, max_age)
        try:
            room, visitor, number, token_id, issued, expires_at = p
            return Admission(str(room), str(visitor), _positive_int(number), str(token_id),
                             float(issued), float(expires_at))
        except (TypeError, ValueError) as exc:
            raise TokenError("invalid admission payload") from exc

    # -- ticketing sessions ----------------------------------------------------------------
    def session(self, room: str, visitor: str, session_id: str, expires_at: float) -> str:
        return self._dumps(SESSION, [room, visitor, session_id, expires_at])

    def load_session(self, token: str, max_age: float = SESSION_MAX_AGE_S) -> Session:
        p = self._loads(SESSION, token, max_age)
        try:
            room, visitor, session_id, expires_at = p
            session = Session(str(room), str(visitor), str(session_id), float(expires_at))
        except (TypeError, ValueError) as exc:
            raise TokenError("invalid session payload") from exc
        if session.expires_at < time.time():
            raise TokenExpired("session expired")
        return session


def _positive_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("expected a positive integer")
    return value
