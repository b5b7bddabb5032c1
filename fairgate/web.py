"""HTTP plumbing both apps share: JSON errors, body parsing, security headers, health, metrics,
admin bearer auth, Jinja2 pages and the server runner.

Domain code raises :class:`ApiError` subclasses; :func:`edge`, which every route is registered
behind, is the one place that turns them (and aiohttp's own HTTP errors) into
``{"error": code, "message": text}`` bodies.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from time import perf_counter
from typing import Any

import jinja2
import orjson
from aiohttp import web
from multidict import MultiDictProxy, istr
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from . import adminauth, logs, proxies, tally
from .config import Settings
from .guard import GUARD_KEY, refusal, setup_guard
from .i18n import Catalog, pick_language
from .tokens import Signer

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = TEMPLATES_DIR / "static"

# Requests carry small JSON documents; anything larger is refused before it is read (413).
MAX_BODY_BYTES = 64 * 1024

SETTINGS_KEY = web.AppKey("settings", Settings)
SIGNER_KEY = web.AppKey("signer", Signer)
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)
APP_NAME_KEY = web.AppKey("app_name", str)
ReadyCheck = Callable[[web.Application], Awaitable[None]]
# Each app appends the checks of the servers it depends on (Redis ping, PostgreSQL SELECT 1).
READY_CHECKS_KEY = web.AppKey("ready_checks", list[tuple[str, ReadyCheck]])
READY_TIMEOUT_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_LATENCY = Histogram(
    "fairgate_http_request_duration_seconds",
    "HTTP request latency by app, route and status class",
    ["app", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class ApiError(Exception):
    """An error with a stable machine code, an HTTP status and a human message."""

    status = 400
    code = "bad_request"
    message = "The request is not valid."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> None:
        self.message = message or self.message
        self.status = status or self.status
        self.code = code or self.code
        self.headers = dict(headers or {})
        self.fields = fields
        super().__init__(self.message)

    def response(self) -> web.Response:
        body = {"error": self.code, "message": self.message, **self.fields}
        return web.json_response(body, status=self.status, headers=self.headers)


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidJson(ApiError):
    status, code, message = 400, "invalid_json", "The request body is not valid JSON."


class ValidationFailed(ApiError):
    status, code = 422, "validation_failed"


class NotFound(ApiError):
    status, code, message = 404, "not_found", "No such resource."


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Authentication is required."


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "This request is not allowed."


class Conflict(ApiError):
    status, code = 409, "conflict"


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"
    message = "The service is temporarily unavailable; retry shortly."

    def __init__(self, message: str | None = None, *, retry_after: int = 2, **kw: Any) -> None:
        headers = {"Retry-After": str(retry_after), **kw.pop("headers", {})}
        super().__init__(message, headers=headers, **kw)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    431: "headers_too_large",
}


def wants_json(request: web.Request) -> bool:
    return (request.path.startswith(API_PREFIXES)
            or "application/json" in request.headers.get("Accept", ""))


def _http_error_json(exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "error")
    message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
    return web.json_response({"error": code, "message": message}, status=exc.status,
                             headers=headers)


# Tokens ride in URLs (admission links): never leak them through Referer; no inline scripts.
# The names are ``istr``, whose case-folded form is made once: a str name is folded again by
# every look-up in a header dict (half of what setting these four headers costs).
_CSP = istr("Content-Security-Policy")
SECURITY_HEADERS = {
    _CSP: (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    istr("X-Content-Type-Options"): "nosniff",
    istr("Referrer-Policy"): "no-referrer",
    istr("X-Frame-Options"): "DENY",
}
# The answers of the JSON APIs (paths under API_PREFIXES): nothing in them is ever a page, so
# a browser that opens one as a document may load nothing at all. Shorter, too: 130 bytes less
# on every status poll.
API_SECURITY_HEADERS = {
    **SECURITY_HEADERS,
    _CSP: "default-src 'none'; frame-ancestors 'none'",
}
API_PREFIXES = ("/api/", "/admin/api/")
_SECURITY_ITEMS = tuple(SECURITY_HEADERS.items())
_API_SECURITY_ITEMS = tuple(API_SECURITY_HEADERS.items())
# A handler that sets security headers itself sets a whole set, by spreading SECURITY_HEADERS
# or API_SECURITY_HEADERS into its own (the status poll does, so the edge need not look them
# up one by one): the edge takes this one name's presence to mean the set is there.
_SECURED = istr("X-Frame-Options")
assert _SECURED in SECURITY_HEADERS and _SECURED in API_SECURITY_HEADERS

# Latency tallies per (app, route, status class), shared by the edges of one route (GET and HEAD).
# ``labels()`` takes a lock and builds a key on every call, and ``observe()`` two more locks,
# which the status poll cannot afford per request.
_LATENCY_TALLIES: dict[tuple[str, str, str], tally.HistogramTally] = {}
UNMATCHED = "unmatched"  # the route name of 404 and 405 answers


def _latency_tally(app_name: str, route: str, status: int) -> tally.HistogramTally:
    key = (app_name, route, f"{status // 100}xx")
    counted = _LATENCY_TALLIES.get(key)
    if counted is None:
        counted = _LATENCY_TALLIES[key] = tally.HistogramTally(REQUEST_LATENCY.labels(*key))
    return counted


def edge(app: web.Application, route: str, handler: Handler, *, api: bool = False) -> Handler:
    """``handler`` behind the outermost layer of both apps: JSON errors, security headers
    (the API set when ``api``, for a route under API_PREFIXES), request latency, the request
    guard (``fairgate.guard``: cross-site writes, per-client limits) and the scheme a trusted
    proxy reports (``fairgate.proxies``).

    Every route is wrapped when it is registered (:func:`add_routes`) rather than the app
    having a middleware: with any middleware, aiohttp adds one of its own and two coroutine
    calls to every request, a seventh of the status poll's cost. What depends on the app and
    the route alone (the app's name, the route's rate limit, its latency tallies) is looked up
    here, once.
    """
    app_name = app[APP_NAME_KEY]
    guard = app[GUARD_KEY]
    trusted = guard.trusted_proxies
    bucket = guard.limits.get(route)
    security = _API_SECURITY_ITEMS if api else _SECURITY_ITEMS
    tallies: dict[int, tally.HistogramTally] = {}

    def observe(status: int, started: float) -> None:
        counted = tallies.get(status)
        if counted is None:
            counted = tallies[status] = _latency_tally(app_name, route, status)
        counted.observe(perf_counter() - started)

    async def edged(request: web.Request) -> web.StreamResponse:
        started = perf_counter()
        if trusted:
            request = proxies.with_forwarded_scheme(request, trusted)
        try:
            response = refusal(request, guard, bucket)
            if response is None:
                response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            if exc.status < 400 or not wants_json(request):
                observe(exc.status, started)
                for name, value in security:
                    exc.headers.setdefault(name, value)
                raise
            response = _http_error_json(exc)
            if not api and request.path.startswith(API_PREFIXES):
                # The catch-all route's 404 and 405 on an API path: the API's headers.
                for name, value in _API_SECURITY_ITEMS:
                    response.headers[name] = value
        except (asyncio.CancelledError, KeyboardInterrupt):
            observe(500, started)
            raise
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = web.json_response(
                {"error": "internal", "message": "Something went wrong on our side."}, status=500
            )
        observe(response.status, started)
        if not response.prepared:
            headers = response.headers
            if _SECURED not in headers:
                for name, value in security:
                    headers.setdefault(name, value)
        return response

    edged.__name__ = edged.__qualname__ = getattr(handler, "__name__", route)
    return edged


def add_routes(app: web.Application, routes: Iterable[web.RouteDef]) -> None:
    """Register ``routes``, each behind the app's :func:`edge`; every route needs a name."""
    wrapped = []
    for route in routes:
        name = route.kwargs.get("name")
        if not name:
            raise ValueError(f"route {route.method} {route.path} has no name")
        handler = edge(app, name, route.handler, api=route.path.startswith(API_PREFIXES))
        wrapped.append(web.RouteDef(route.method, route.path, handler, route.kwargs))
    app.router.add_routes(wrapped)


async def _unmatched(request: web.Request) -> web.StreamResponse:
    """No route matched: 405 with ``Allow`` when the path exists for other methods, else 404
    (what aiohttp's router answers, here behind the edge like any route)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name != UNMATCHED:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def _static_handler(directory: Path) -> Handler:
    """The files under ``directory`` when the app starts, by their relative path; nothing else
    is served (no listing, no path outside it)."""
    files = {p.relative_to(directory).as_posix(): p
             for p in sorted(directory.rglob("*")) if p.is_file()}

    async def static(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["path"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    return static


# 19 digits in a row: maybe an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(rb"\d{19}")


def _parse_json(raw: bytes) -> Any:
    """orjson (a join's ``{}``: 0.04 µs, the standard library's 1 µs). The standard library
    reads a body with a long run of digits, where an integer beyond 64 bits keeps its value and
    gets the error of the field it is in, and what orjson refuses. Invalid JSON, like any other
    body neither parser can read:

    * nesting deeper than either follows (the standard library raises RecursionError);
    * an escaped lone surrogate (``"\\ud800"``), which no UTF-8 text can hold, so Redis,
      PostgreSQL and the log lines could not store it (I-JSON, RFC 7493, forbids it).
    """
    if not _LONG_NUMBER.search(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        data = json.loads(raw)
        json.dumps(data, ensure_ascii=False).encode()  # UnicodeEncodeError on a lone surrogate
    except (ValueError, UnicodeError, RecursionError):
        raise InvalidJson() from None
    return data


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is not one, 413 when too large."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError("The request body is too large.", status=413, code="body_too_large")
    try:
        raw = await request.read()  # aiohttp enforces client_max_size while reading (413)
    except web.RequestPayloadError:  # a body its Content-Encoding cannot decode
        raise ApiError("The request body could not be decoded.", code="invalid_body") from None
    if not raw:
        return {}
    data = _parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidJson("The request body must be a JSON object.")
    return data


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """The request's form fields; 400 when aiohttp cannot read the body as a form (bytes that
    are not UTF-8 or not in the charset named, a multipart body without its boundary, a body
    its Content-Encoding cannot decode), 413 when too large."""
    try:
        return await request.post()
    except (ValueError, LookupError, web.RequestPayloadError):  # UnicodeDecodeError is a ValueError
        raise ApiError("The form could not be read.", code="invalid_form") from None


def require_admin(request: web.Request) -> str:
    """The operator making the request (see :mod:`fairgate.adminauth`); 401 without a valid
    bearer token or dashboard session, 403 for a cookie-borne write without its CSRF proof."""
    settings = request.app[SETTINGS_KEY]
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        actor = adminauth.token_actor(settings, token) if scheme.lower() == "bearer" else None
        if actor is None:
            raise Unauthorized(
                "A valid admin bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
            )
        return actor
    session = adminauth.load_session(settings, request.cookies.get(adminauth.COOKIE, ""))
    if session is None:
        raise Unauthorized(
            "A valid admin bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    if request.method not in adminauth.SAFE_METHODS and not adminauth.csrf_ok(
        session,
        request.headers.get(adminauth.CSRF_HEADER, ""),
        request.headers.get("Origin"),
        request.host,
    ):
        raise Forbidden("This change must come from the dashboard page (CSRF check failed).",
                        code="csrf_failed")
    return session.actor


async def healthz(request: web.Request) -> web.Response:
    # The pid tells which of several processes sharing a port answered.
    return web.json_response(
        {"status": "ok", "app": request.app[APP_NAME_KEY], "pid": os.getpid()}
    )


async def readyz(request: web.Request) -> web.Response:
    """200 when every backend answers within a second; 503 naming the ones that do not, so a
    load balancer stops sending traffic to a process that cannot serve it."""
    failing: list[str] = []
    for name, check in request.app[READY_CHECKS_KEY]:
        try:
            await asyncio.wait_for(check(request.app), READY_TIMEOUT_S)
        # Any failure means "not ready": each driver (redis, asyncpg) raises its own family.
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
            failing.append(name)
    body = {"status": "unavailable" if failing else "ready", "app": request.app[APP_NAME_KEY]}
    if failing:
        body["failing"] = failing
        return web.json_response(body, status=503, headers={"Retry-After": "2"})
    return web.json_response(body)


# Collectors whose figures are computed at scrape time (room gauges, pool usage). They read this
# process's state, so with several worker processes each answers for itself; they are added to
# the per-scrape registry of the multiprocess mode as well.
_SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    _SCRAPE_COLLECTORS.append(collector)
    REGISTRY.register(collector)


def _registry() -> CollectorRegistry:
    """Several processes (gunicorn workers, ``serve --workers``) keep their counters in files
    under ``PROMETHEUS_MULTIPROC_DIR``; any of them then answers the sum over all of them."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in _SCRAPE_COLLECTORS:
        registry.register(collector)
    return registry


async def metrics(request: web.Request) -> web.Response:
    tally.flush_all()  # this process's hot-path counts; others flush every second
    resp = web.Response(body=generate_latest(_registry()))
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def make_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        enable_async=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    return env


def _static_version(name: str) -> str:
    try:
        return str(int((STATIC_DIR / name).stat().st_mtime))
    except OSError:
        return "0"


def static_url(name: str) -> str:
    """URL of a shipped static file, versioned by its mtime so browsers refetch on change."""
    return f"/static/{name}?v={_static_version(name)}"


def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    catalog: Catalog | None = None,
    status: int = 200,
) -> web.Response:
    """Render a page in the visitor's language; ``t`` holds the catalog's strings for it."""
    env = request.app[JINJA_KEY]
    lang = pick_language(request.headers.get("Accept-Language", ""))
    strings = catalog.strings(lang) if catalog is not None else {}
    html = env.get_template(template).render(lang=lang, t=strings, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def base_app(name: str, settings: Settings, signer: Signer | None = None) -> web.Application:
    """An application with the shared edge, health, metrics and static files wired. Its own
    routes are registered with :func:`add_routes`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    setup_guard(app, name, settings)
    app[APP_NAME_KEY] = name
    app[SETTINGS_KEY] = settings
    app[SIGNER_KEY] = signer or Signer(settings.secret_keys)
    app[JINJA_KEY] = make_jinja()
    app[READY_CHECKS_KEY] = []
    app.cleanup_ctx.append(tally.flusher)
    add_routes(app, [
        web.get("/healthz", healthz, name="healthz"),
        web.get("/readyz", readyz, name="readyz"),
        web.get("/metrics", metrics, name="metrics"),
        web.get("/static/{path:.+}", _static_handler(STATIC_DIR), name="static"),
    ])
    app.on_startup.append(_add_unmatched)
    return app


async def _add_unmatched(app: web.Application) -> None:
    """The route of every request no other route takes, added last (at start-up, when every
    route is in): it answers 404 or 405 behind the edge, in JSON on the API paths."""
    add_routes(app, [web.route("*", "/{path:.*}", _unmatched, name=UNMATCHED)])


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# An idle keep-alive connection is closed after this long (aiohttp's default is an hour), so
# idle sockets cannot pile up and starve the process of file descriptors.
KEEPALIVE_TIMEOUT_S = 75.0


def configure_logging(events: Any = None) -> None:
    """Logging as a served app has it: lines of level INFO and up to stderr, the event lines
    (``fairgate.logs``) as bare JSON to ``events`` (stderr by default)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # No log line of ours names its thread, process or source line: skip collecting them for
    # every record (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logs.configure(events)


async def _freeze_startup_objects(app: web.Application) -> None:
    """What exists once the app has started (modules, the app, its pools and caches) lives as
    long as the process: moved out of the collector's way (``gc.freeze``), a full collection
    walks only what requests made since, not the 50,000-odd objects of the start-up."""
    gc.collect()
    gc.freeze()


def serve(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> None:
    """Run ``app`` until SIGTERM/SIGINT. ``reuse_port``: several processes listen on one port
    (``SO_REUSEPORT``) and the kernel spreads connections over them (fairgate.supervisor)."""
    install_uvloop()
    configure_logging()
    app.on_startup.append(_freeze_startup_objects)  # last: after every other start-up step
    web.run_app(app, host=host, port=port, access_log=None, print=None,
                handler_cancellation=True, keepalive_timeout=KEEPALIVE_TIMEOUT_S,
                reuse_port=reuse_port or None)
