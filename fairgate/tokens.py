"""Signed tokens shared by both apps (DESIGN section 3).

One itsdangerous serializer per purpose (its salt), so a token of one kind never verifies as
another. ``SECRET_KEYS`` lists keys newest first: the newest signs, all of them verify, so a key
can be rotated in without logging anyone out. Every ``loads`` enforces ``max_age``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

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


class _RandomIds:
    """Random bytes from the operating system's CSPRNG, read 4 KiB at a time: one system call
    per 200-odd joins instead of two per join (each was 5% of a join's CPU). The bytes are the
    ones ``secrets`` would have read; each is handed out once."""

    ID_BYTES = 16
    CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self._pool = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._at + count > len(self._pool):
                self._pool, self._at = os.urandom(self.CHUNK), 0
            at = self._at
            self._at = at + count
            return self._pool[at:at + count]


_random_ids = _RandomIds()
# A forked worker must not hand out the ids its parent has left in the buffer.
os.register_at_fork(after_in_child=_random_ids.reset)


def new_visitor_id() -> str:
    """128 random bits, hex."""
    return _random_ids.take(_RandomIds.ID_BYTES).hex()


def random_bits31() -> int:
    """31 random bits (what ``secrets.randbits(31)`` gives), from the same buffer."""
    return int.from_bytes(_random_ids.take(4), "big") >> 1


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


class _Json:
    """orjson with the text interface itsdangerous expects (its own is the stdlib's)."""

    @staticmethod
    def dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)


class _KeyedSigner(TimestampSigner):
    """Derives each key once; itsdangerous derives it again (a hash) for every token.

    The digest is ``hashlib.sha1`` itself, the same SHA-1 as itsdangerous's default: its
    default is a Python function calling it, which ``hmac.new`` cannot hand to OpenSSL, so
    every signature took the pure-Python HMAC path (a ticket: 6.6 µs before, 5.9 µs after).
    Signatures are identical.
    """

    default_digest_method = staticmethod(hashlib.sha1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        cache_key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        key = self._derived.get(cache_key)
        if key is None:
            key = self._derived[cache_key] = super().derive_key(secret_key)
        return key


class TokenSerializer(URLSafeTimedSerializer):
    """The same token format, cheaper to make: one signer per serializer instead of one per
    token, and no zlib attempt (payloads of a few dozen bytes do not shrink). Tokens that an
    earlier version compressed still load: the reader tells them by their leading dot."""

    default_signer = _KeyedSigner
    default_serializer = _Json

    def make_signer(self, salt: str | bytes | None = None) -> TimestampSigner:
        if salt is not None and salt != self.salt:
            return super().make_signer(salt)
        signer = self.__dict__.get("_signer")
        if signer is None:
            signer = self._signer = super().make_signer(salt)
        return signer

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(orjson.dumps(obj))


class Signer:
    """Signs and verifies the three kinds of token with a rotating key list."""

    def __init__(self, secret_keys: tuple[str, ...] | list[str]) -> None:
        if not secret_keys:
            raise ValueError("at least one secret key is required")
        # itsdangerous wants keys oldest to newest and signs with the last one.
        keys = list(reversed(secret_keys))
        self._serializers = {
            purpose: TokenSerializer(keys, salt=f"fairgate.{purpose}")
            for purpose in PURPOSES
        }

    def _dumps(self, purpose: str, payload: list[Any]) -> str:
        return self._serializers[purpose].dumps(payload)

    def _loads(self, purpose: str, token: str, max_age: float) -> list[Any]:
        return self._loads_stamped(purpose, token, max_age)[0]

    def _loads_stamped(self, purpose: str, token: str, max_age: float) -> tuple[list[Any], float]:
        """The payload and when the token was signed (unix seconds, as ``max_age`` counts)."""
        # Tokens are URL-safe base64 and dots: anything else (a header's non-UTF-8 bytes arrive
        # as lone surrogates, which itsdangerous cannot even encode) is no token.
        if not isinstance(token, str) or not token or len(token) > 2048 or not token.isascii():
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
