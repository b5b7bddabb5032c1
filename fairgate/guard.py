"""Request guards both apps share: a same-origin check on cookie-authenticated writes (CSRF)
and per-client token buckets on the routes a script would hammer (abuse).

Both run in one check, :func:`refusal`, which the apps' edge (``fairgate.web.edge``) calls
before every handler; it does nothing on a safe method of an unlimited route.

CSRF: a cross-site page can make a browser send our cookies with a form POST or a ``fetch``,
but it cannot set an ``Authorization: Bearer`` or ``X-Queue-Ticket`` header without a CORS
preflight we never grant. So a write that carries cookies and neither header must say, in its
``Origin`` (or, failing that, ``Referer``) header, that it comes from our own site; every
browser sends ``Origin`` (``null`` from sandboxed or privacy-stripped pages, refused) and
``Sec-Fetch-Site`` on a POST, PUT, PATCH or DELETE.

Limits: an in-process token bucket per client address and limited route. The address is the
peer's, or, when the peer is a trusted proxy (``WR_TRUSTED_PROXIES`` / ``TK_TRUSTED_PROXIES``),
the last untrusted hop of ``X-Forwarded-For``. Loopback is exempt by default
(``*_LIMIT_EXEMPT``) so local load tests and a proxy on the same machine are never refused.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from .config import ConfigError, Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
HEADER_CREDENTIALS = ("X-Queue-Ticket",)
DEFAULT_EXEMPT = "127.0.0.1,::1"

# route name -> (setting, default requests per minute). The bucket holds one minute's worth,
# so a burst of that size passes at once. Defaults are far above what a person does: a browser
# joins once and polls at most once a second, and a buyer holds a few times a minute.
ROUTE_LIMITS: dict[str, dict[str, tuple[str, float]]] = {
    "waitingroom": {
        "join": ("WR_JOIN_PER_MIN", 60.0),
        "queue_page": ("WR_JOIN_PER_MIN", 60.0),
        "status": ("WR_STATUS_PER_MIN", 600.0),
        # Sign-in attempts to the dashboard: guessing the admin token costs time.
        "admin_login": ("WR_LOGIN_PER_MIN", 10.0),
    },
    "ticketing": {
        "api_hold": ("TK_HOLD_PER_MIN", 120.0),
        "api_session": ("TK_SESSION_PER_MIN", 60.0),
        "enter": ("TK_SESSION_PER_MIN", 60.0),
    },
}
PREFIX = {"waitingroom": "WR_", "ticketing": "TK_"}
# Addresses tracked per bucket table before idle (hence full) buckets are dropped.
MAX_CLIENTS = 100_000


@dataclass
class TokenBucket:
    """``per_min`` requests a minute per client, bursts up to ``per_min``."""

    per_min: float
    _clients: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, client: str, now: float | None = None) -> float:
        """0 when the request may pass, else the seconds until it would."""
        now = time.monotonic() if now is None else now
        rate = self.per_min / 60.0
        tokens, last = self._clients.get(client, (self.per_min, now))
        tokens = min(self.per_min, tokens + (now - last) * rate)
        if tokens < 1:
            self._clients[client] = (tokens, now)
            return (1 - tokens) / rate
        if len(self._clients) >= MAX_CLIENTS and client not in self._clients:
            self._forget_idle(now)
        self._clients[client] = (tokens - 1, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled (an empty bucket is full after a minute): forgetting
        them changes nobody's allowance. When a flood of addresses keeps every bucket busy, all
        are dropped, so the table's memory and this scan stay bounded."""
        self._clients = {c: v for c, v in self._clients.items() if now - v[1] < 60.0}
        if len(self._clients) >= MAX_CLIENTS * 3 // 4:
            self._clients.clear()


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Addresses = Container[str]


def parse_addresses(raw: str) -> Addresses:
    """IP addresses and networks (``10.0.0.7``, ``10.0.0.0/8``, ``fd00::/8``) from
    comma-separated entries, as ``*_TRUSTED_PROXIES`` and ``*_LIMIT_EXEMPT`` list them;
    ``address in result`` takes the address as text (a peer, a hop of ``X-Forwarded-For``).
    ValueError names the first entry that is neither an address nor a network.

    Exact addresses alone give a frozenset, whose look-up is the cheapest there is: the poll
    asks on every request. An IPv4 address also matches as IPv6 (``::ffff:10.1.2.3``, as a
    dual-stack socket reports it)."""
    networks = []
    for entry in (e.strip() for e in raw.split(",")):
        if entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(entry) from None
    exact = frozenset(form for n in networks if n.num_addresses == 1
                      for form in _written_as(n.network_address))
    if all(n.num_addresses == 1 for n in networks):
        return exact
    return AddressSet(networks, exact)


def _written_as(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str, ...]:
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip), f"::ffff:{ip}"
    return (str(ip),)


class AddressSet:
    """Addresses and networks (see :func:`parse_addresses`); text that is no IP address is in
    no set. Answers for addresses outside the exact list are remembered in a bounded table, so
    a limited route pays one dict look-up per request."""

    MAX_REMEMBERED = 10_000

    def __init__(self, networks: Iterable[IPNetwork], exact: frozenset[str]) -> None:
        self._networks = tuple(networks)
        self._exact = exact
        self._seen: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, address: object) -> bool:
        if address in self._exact:
            return True
        if not isinstance(address, str):
            return False
        known = self._seen.get(address)
        if known is None:
            known = self._match(address)
            if len(self._seen) >= self.MAX_REMEMBERED:
                self._seen.clear()
            self._seen[address] = known
        return known

    def _match(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


@dataclass(frozen=True)
class GuardConfig:
    origins: frozenset[str]
    limits: Mapping[str, TokenBucket]
    trusted_proxies: Addresses
    exempt: Addresses

    @classmethod
    def for_app(cls, name: str, settings: Settings) -> GuardConfig:
        prefix = PREFIX.get(name, "")
        own = {"waitingroom": settings.waitingroom_url, "ticketing": settings.ticketing_url}
        origins = frozenset(_origin(u) for u in (own.get(name, ""),) if u)
        buckets: dict[str, TokenBucket] = {}
        shared: dict[str, TokenBucket] = {}
        for route, (setting, default) in ROUTE_LIMITS.get(name, {}).items():
            per_min = settings.extra_float(setting, default)
            if per_min > 0:
                buckets[route] = shared.setdefault(setting, TokenBucket(per_min))
        return cls(
            origins=origins,
            limits=buckets,
            trusted_proxies=_addresses(settings, prefix + "TRUSTED_PROXIES", ""),
            exempt=_addresses(settings, prefix + "LIMIT_EXEMPT", DEFAULT_EXEMPT),
        )


GUARD_KEY = web.AppKey("guard", GuardConfig)


def _addresses(settings: Settings, name: str, default: str) -> Addresses:
    raw = settings.extra.get(name, default)
    try:
        return parse_addresses(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{name}: expected comma-separated IP addresses or networks (10.0.0.0/8), "
            f"got {exc.args[0]!r}"
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def client_address(request: web.Request, trusted: Container[str]) -> str:
    """The client's address: the peer, or the last hop a trusted proxy vouches for."""
    peer = request.remote or ""
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed(hops):
        if hop and hop not in trusted:
            return hop
    return peer


def _cookie_authenticated(request: web.Request) -> bool:
    if "Cookie" not in request.headers:
        return False
    scheme = request.headers.get("Authorization", "").partition(" ")[0]
    if scheme.lower() == "bearer":
        return False
    return not any(h in request.headers for h in HEADER_CREDENTIALS)


def same_origin(request: web.Request, allowed: frozenset[str]) -> bool:
    """Whether the write's Origin (or Referer) names this site.

    A request with none of ``Origin``, ``Referer`` and ``Sec-Fetch-Site`` comes from no browser
    (every current browser sends ``Origin`` and ``Sec-Fetch-Site`` on a write, even when the
    page strips the Referer), so it is a script holding its own cookies and passes.
    """
    headers = request.headers
    source = headers.get("Origin") or headers.get("Referer") or ""
    if not source:
        fetch_site = headers.get("Sec-Fetch-Site")
        return fetch_site is None or fetch_site in ("same-origin", "none")
    if source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:  # "http://[::1" and the like: no origin a browser sends
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    # Behind a TLS-terminating proxy the request looks like plain HTTP: compare hosts, and also
    # accept the configured public URL exactly.
    return parts.netloc.lower() == request.host.lower() or _origin(source) in allowed


def _forbidden() -> web.Response:
    return web.json_response(
        {"error": "cross_site_request",
         "message": "This request must come from this site's own pages."},
        status=403,
    )


def _too_many(retry_after: float) -> web.Response:
    seconds = max(1, math.ceil(retry_after))
    return web.json_response(
        {"error": "too_many_requests",
         "message": "Too many requests from this address; retry shortly.",
         "retry_after_s": seconds},
        status=429, headers={"Retry-After": str(seconds)},
    )


def refusal(request: web.Request, guard: GuardConfig,
            bucket: TokenBucket | None) -> web.Response | None:
    """The answer for a request the guard stops (403 cross-site write, 429 over the client's
    limit), or None to let it through. ``bucket``: the limit of the request's route, if any.
    Called by the apps' edge (``fairgate.web.edge``) rather than being a layer of its own: one
    coroutine call less on every status poll."""
    if request.method not in SAFE_METHODS and _cookie_authenticated(request):
        if not same_origin(request, guard.origins):
            return _forbidden()
    if bucket is not None:
        client = client_address(request, guard.trusted_proxies)
        if client not in guard.exempt:
            wait = bucket.take(client)
            if wait:
                return _too_many(wait)
    return None


def setup_guard(app: web.Application, name: str, settings: Settings) -> None:
    """Read the app's guard settings; ``fairgate.web.edge`` calls :func:`refusal`."""
    app[GUARD_KEY] = GuardConfig.for_app(name, settings)
