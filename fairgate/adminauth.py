"""Who is operating: admin bearer tokens and the dashboard's login cookie.

API clients (the CLI, scripts) send ``Authorization: Bearer <token>``. The dashboard logs in
once with the same token and then holds a signed session cookie (HttpOnly, SameSite=Strict), so
the token never sits in the page's storage where a script could read it.

Because a cookie is sent by the browser on its own, every state-changing request authenticated
by the cookie must also prove it comes from the dashboard page: an ``X-CSRF-Token`` header equal
to the session's CSRF value (double submit: the page gets the value rendered into it, a foreign
site cannot read it), and an ``Origin`` header, when present, naming this very site. Bearer
requests need neither: a browser never adds that header by itself.

The actor recorded in the audit log is ``admin`` for ADMIN_TOKEN and the operator's name for a
token of ADMIN_OPERATORS; the token itself is never recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from itsdangerous import BadData

from .config import Settings
from .tokens import TokenSerializer

COOKIE = "fg_admin"
CSRF_HEADER = "X-CSRF-Token"
# An operator shift; after that the dashboard asks for the token again.
SESSION_MAX_AGE_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_ACTOR = "admin"


@dataclass(frozen=True, slots=True)
class AdminSession:
    actor: str
    csrf: str


def token_actor(settings: Settings, token: str) -> str | None:
    """The actor a token belongs to, or None. Every known token is compared (constant time)."""
    # A header's bytes that are not UTF-8 arrive as lone surrogates (aiohttp decodes with
    # surrogateescape): the same escape gives the bytes back, so they compare as unequal.
    given = token.strip().encode("utf-8", "surrogateescape")
    found: str | None = None
    candidates = [(ADMIN_ACTOR, settings.admin_token), *settings.admin_operators.items()]
    for actor, expected in candidates:
        if expected and hmac.compare_digest(given, expected.encode()) and found is None:
            found = actor
    return found


def _fingerprint(token: str) -> str:
    # Rotating a token ends the sessions opened with it: the cookie carries this digest.
    return hashlib.sha256(b"fairgate.admin-session:" + token.encode()).hexdigest()[:32]


def _serializer(settings: Settings) -> TokenSerializer:
    return TokenSerializer(list(reversed(settings.secret_keys)),
                                  salt="fairgate.admin-session")


def new_session(settings: Settings, token: str) -> tuple[str, AdminSession] | None:
    """A signed cookie value for a valid token, or None when the token is refused."""
    actor = token_actor(settings, token)
    if actor is None:
        return None
    session = AdminSession(actor, secrets.token_urlsafe(24))
    value = _serializer(settings).dumps([actor, session.csrf, _fingerprint(token.strip())])
    return value, session


def load_session(settings: Settings, value: str) -> AdminSession | None:
    if not value or len(value) > 1024:
        return None
    try:
        actor, csrf, fp = _serializer(settings).loads(value, max_age=SESSION_MAX_AGE_S)
    except (BadData, ValueError, TypeError):
        return None
    expected = settings.admin_token if actor == ADMIN_ACTOR else settings.admin_operators.get(
        actor)
    if not expected or not hmac.compare_digest(str(fp), _fingerprint(expected)):
        return None
    return AdminSession(str(actor), str(csrf))


def csrf_ok(session: AdminSession, header: str, origin: str | None, own_host: str) -> bool:
    """Whether a cookie-authenticated write really comes from the dashboard page.

    The Origin's host is compared, not its scheme: behind a TLS-terminating balancer the app
    sees plain HTTP while the browser says https.
    """
    if origin is not None:
        try:
            host = urlsplit(origin).netloc
        except ValueError:  # "http://[::1" and the like: no origin a browser sends
            return False
        if host.lower() != own_host.lower():
            return False
    return bool(header) and hmac.compare_digest(
        header.encode("utf-8", "surrogateescape"), session.csrf.encode()
    )
