"""The gate: admission tokens in, ticketing sessions out, and the session check on seat routes.

An admission token is verified offline (signature and max_age) and accepted once: its id goes
into ``used_tokens`` in the same statement that checks it, so a copied link lets nobody else in.
The session is a signed token of its own that ends when the admission ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from fairgate.tokens import (
    ADMISSION_MAX_AGE_S,
    SESSION_MAX_AGE_S,
    Session,
    Signer,
    TokenError,
    TokenExpired,
)
from fairgate.web import SETTINGS_KEY

from . import queries
from .db import run_write
from .errors import InvalidToken, NoEventForRoom, NoSession, TokenExpiredError, TokenUsed
from .events import EventCache
from .tuning import Tuning

COOKIE_NAME = "tk_session"
# Kept a little past the token's own max_age, so a token is refused as used, not as expired,
# for as long as it could still verify.
USED_TOKEN_GRACE_S = 60


@dataclass(frozen=True, slots=True)
class Entry:
    session_token: str
    session: Session
    event_id: int


async def exchange(
    pool: asyncpg.Pool, tuning: Tuning, signer: Signer, events: EventCache, token: str
) -> Entry:
    """Trade an admission token for a session token (once per token id)."""
    try:
        admission = signer.load_admission(token)
    except TokenExpired:
        raise TokenExpiredError() from None
    except TokenError:
        raise InvalidToken() from None
    now = time.time()
    if admission.expires_at <= now:
        raise TokenExpiredError("This admission has already ended.")
    event = await events.by_room(pool, tuning, admission.room)
    if event is None:
        raise NoEventForRoom()
    forget_after = admission.issued_at + ADMISSION_MAX_AGE_S + USED_TOKEN_GRACE_S
    accepted = await run_write(pool, tuning, lambda c: c.fetchval(
        queries.USE_TOKEN, admission.token_id, admission.room, admission.visitor, forget_after
    ))
    if accepted is None:
        raise TokenUsed()
    expires_at = min(admission.expires_at, now + SESSION_MAX_AGE_S)
    session_token = signer.session(admission.room, admission.visitor, admission.token_id,
                                   expires_at)
    session = Session(admission.room, admission.visitor, admission.token_id, expires_at)
    return Entry(session_token, session, event["id"])


class VerifiedSessions:
    """Session tokens this process has verified, so a buyer's later requests skip the signature
    check (an HMAC, a key derivation and a JSON decode: about as much Python work as the rest
    of a refused hold).

    A hit is checked the way ``Signer.load_session`` checks: a signature that verified once
    stays valid (the keys are fixed for the life of the process), and ``exchange`` never issues
    a session whose ``expires_at`` lies beyond its max_age, so ``expires_at`` decides.
    """

    # A few thousand buyers are admitted at once; each entry is a few hundred bytes.
    MAX_ENTRIES = 20_000

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self._verified: dict[str, Session] = {}

    def load(self, token: str) -> Session | None:
        session = self._verified.get(token)
        if session is None:
            try:
                session = self._signer.load_session(token)
            except TokenError:
                return None
            if len(self._verified) >= self.MAX_ENTRIES:
                self._verified.clear()
            self._verified[token] = session
        elif session.expires_at < time.time():
            del self._verified[token]
            return None
        return session


def session_of(request: web.Request, sessions: VerifiedSessions) -> Session | None:
    """The caller's session from ``Authorization: Bearer`` (API) or the cookie (pages)."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    return sessions.load(token)


def require_session(request: web.Request, sessions: VerifiedSessions, room: str) -> Session:
    """The session for ``room``; 401 JSON without one (a session of another room is none)."""
    session = session_of(request, sessions)
    if session is None or session.room != room:
        raise NoSession(headers={"WWW-Authenticate": "Bearer"})
    return session


def set_session_cookie(response: web.StreamResponse, request: web.Request, entry: Entry) -> None:
    response.set_cookie(
        COOKIE_NAME,
        entry.session_token,
        max_age=max(1, int(entry.session.expires_at - time.time())),
        path="/",
        httponly=True,
        samesite="Lax",
        # Behind a TLS-terminating proxy the request itself looks like plain HTTP.
        secure=request.secure or request.app[SETTINGS_KEY].ticketing_url.startswith("https:"),
    )
