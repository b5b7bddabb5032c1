"""TLS ends at the proxy: believe its ``X-Forwarded-Proto`` only when it is a trusted proxy.

Behind HAProxy or an ingress that terminates TLS, the apps see plain HTTP, so ``request.secure``
is false and cookies would lose their ``Secure`` flag. The header that says "the visitor used
HTTPS" can be sent by anyone, so it is honoured only from the peers listed in
``WR_TRUSTED_PROXIES`` / ``TK_TRUSTED_PROXIES`` (the same lists the rate limits use to read
``X-Forwarded-For``, see fairgate.guard). Without a list the header is ignored entirely.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .guard import GUARD_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FORWARDED_PROTO = "X-Forwarded-Proto"


def forwarded_scheme(request: web.Request, trusted: frozenset[str]) -> str | None:
    """The scheme a trusted proxy reports, or None (untrusted peer, no or odd header)."""
    if (request.remote or "") not in trusted:
        return None
    # Chained proxies append: the last value is the one the nearest (trusted) proxy saw.
    value = request.headers.get(FORWARDED_PROTO, "").rsplit(",", 1)[-1].strip().lower()
    return value if value in ("http", "https") else None


@web.middleware
async def forwarded_proto_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    scheme = forwarded_scheme(request, request.app[GUARD_KEY].trusted_proxies)
    if scheme is not None and scheme != request.scheme:
        request = request.clone(scheme=scheme)
    return await handler(request)


def install(app: web.Application) -> None:
    """Add the middleware (outermost) when the app trusts some proxy; otherwise cost nothing."""
    if app[GUARD_KEY].trusted_proxies:
        app.middlewares.insert(0, forwarded_proto_middleware)
