"""TLS ends at the proxy: believe its ``X-Forwarded-Proto`` only when it is a trusted proxy.

Behind HAProxy or an ingress that terminates TLS, the apps see plain HTTP, so ``request.secure``
is false and cookies would lose their ``Secure`` flag. The header that says "the visitor used
HTTPS" can be sent by anyone, so it is honoured only from the peers listed in
``WR_TRUSTED_PROXIES`` / ``TK_TRUSTED_PROXIES`` (the same lists the rate limits use to read
``X-Forwarded-For``, see fairgate.guard). Without a list the header is ignored entirely.
"""

from __future__ import annotations

from collections.abc import Container

from aiohttp import web

FORWARDED_PROTO = "X-Forwarded-Proto"


def forwarded_scheme(request: web.Request, trusted: Container[str]) -> str | None:
    """The scheme a trusted proxy reports, or None (untrusted peer, no or odd header)."""
    if (request.remote or "") not in trusted:
        return None
    # Chained proxies append: the last value is the one the nearest (trusted) proxy saw.
    value = request.headers.get(FORWARDED_PROTO, "").rsplit(",", 1)[-1].strip().lower()
    return value if value in ("http", "https") else None


def with_forwarded_scheme(request: web.Request, trusted: Container[str]) -> web.Request:
    """The request as the visitor made it: with the scheme a trusted proxy reports (the edge,
    ``fairgate.web.edge``, calls this first when the app trusts some proxy)."""
    scheme = forwarded_scheme(request, trusted)
    if scheme is not None and scheme != request.scheme:
        return request.clone(scheme=scheme)
    return request
