"""HTTP handlers of the buyer-facing routes: parse, call the domain, answer. No SQL here."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from fairgate.i18n import pick_language
from fairgate.tokens import TICKET_MAX_AGE_S, TokenError
from fairgate.web import (
    API_SECURITY_HEADERS,
    SETTINGS_KEY,
    SIGNER_KEY,
    ApiError,
    ValidationFailed,
    read_json,
    render,
)

from . import events as ev
from . import gate, holds, metrics
from .errors import NoSession
from .keys import (
    DEPARTURES_KEY,
    EVENTS_KEY,
    HUB_KEY,
    POOL_KEY,
    READ_POOL_KEY,
    SESSIONS_KEY,
    TUNING_KEY,
)
from .messages import CATALOG, SCRIPT_KEYS
from .stream import sse_frame


def _int_param(request: web.Request, name: str) -> int:
    # Routes only match 1-18 digits, so the value always fits a bigint column.
    return int(request.match_info[name])


def _queue_url(request: web.Request, room: str) -> str:
    return f"{request.app[SETTINGS_KEY].waitingroom_url}/r/{quote(room, safe='')}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _event(request: web.Request) -> asyncpg.Record:
    """The event named in the path (404 JSON when there is none)."""
    app = request.app
    return await app[EVENTS_KEY].by_id(app[POOL_KEY], app[TUNING_KEY],
                                       _int_param(request, "event"))


async def _exchange(request: web.Request, token: str) -> gate.Entry:
    app = request.app
    return await gate.exchange(app[POOL_KEY], app[TUNING_KEY], app[SIGNER_KEY],
                               app[EVENTS_KEY], token)


# -- entry --------------------------------------------------------------------------------
async def enter(request: web.Request) -> web.StreamResponse:
    """Admission link target: trade the token for a cookie, then drop it from the URL."""
    try:
        entry = await _exchange(request, request.query.get("token", ""))
    except ApiError as exc:
        if exc.status >= 500:
            raise
        return render(request, "ticketing_refused.html", {
            "reason": exc.code, "queue_url": _refused_queue_url(request),
        }, catalog=CATALOG, status=exc.status)
    location = request.app.router["event_page"].url_for(event=str(entry.event_id))
    response = web.Response(status=303, headers={"Location": str(location),
                                                 "Cache-Control": "no-store"})
    gate.set_session_cookie(response, request, entry)
    return response


def _refused_queue_url(request: web.Request) -> str | None:
    """Where a refused visitor can queue again: the room of a genuine (used or old) token."""
    try:
        admission = request.app[SIGNER_KEY].load_admission(request.query.get("token", ""),
                                                           max_age=TICKET_MAX_AGE_S)
    except TokenError:
        return None
    return _queue_url(request, admission.room)


@metrics.counted(metrics.ENTRIES, "entry")
async def api_session(request: web.Request) -> web.Response:
    body = await read_json(request)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ValidationFailed("token must be the admission token string.", code="invalid_token")
    entry = await _exchange(request, token)
    return web.json_response({
        "session": entry.session_token,
        "event_id": entry.event_id,
        "room": entry.session.room,
        "expires_at": _iso(entry.session.expires_at),
    }, headers={"Cache-Control": "no-store"})


async def api_leave(request: web.Request) -> web.Response:
    """The buyer gives up: their holds go back on sale and the waiting room reuses the slot."""
    app = request.app
    session = gate.session_of(request, app[SESSIONS_KEY])
    if session is None:
        raise NoSession()
    event = await app[EVENTS_KEY].by_room(app[POOL_KEY], app[TUNING_KEY], session.room)
    if event is not None:
        await holds.release_all(app[POOL_KEY], app[TUNING_KEY], event["id"], session.visitor)
    app[DEPARTURES_KEY].visitor_left(session.room, session.visitor)
    response = web.json_response({"left": True})
    response.del_cookie(gate.COOKIE_NAME, path="/")
    return response


# -- pages --------------------------------------------------------------------------------
async def event_page(request: web.Request) -> web.StreamResponse:
    app = request.app
    try:
        event = await _event(request)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return render(request, "ticketing_refused.html", {"reason": "event_not_found",
                      "queue_url": None}, catalog=CATALOG, status=404)
    session = gate.session_of(request, app[SESSIONS_KEY])
    if session is None or session.room != event["room"]:
        raise web.HTTPSeeOther(location=_queue_url(request, event["room"]))
    strings = CATALOG.strings(_lang(request))
    return render(request, "seats.html", {
        "event": ev.event_json(event),
        "script_strings": {k: strings[k] for k in SCRIPT_KEYS},
        "session_expires_at": int(session.expires_at),
        "queue_url": _queue_url(request, event["room"]),
    }, catalog=CATALOG)


def _lang(request: web.Request) -> str:
    return pick_language(request.headers.get("Accept-Language", ""))


# -- seat API -----------------------------------------------------------------------------
async def api_events(request: web.Request) -> web.Response:
    events = await ev.list_events(request.app[POOL_KEY], request.app[TUNING_KEY])
    return web.json_response({"events": events})


async def _event_and_session(request: web.Request) -> tuple[Any, Any]:
    event = await _event(request)
    session = gate.require_session(request, request.app[SESSIONS_KEY], event["room"])
    return event, session


async def api_seats(request: web.Request) -> web.Response:
    event, _session = await _event_and_session(request)
    seat_map = await ev.seat_map(request.app[READ_POOL_KEY], request.app[TUNING_KEY],
                                 event["id"])
    headers = {"ETag": seat_map.etag, "Cache-Control": "private, no-cache"}
    if seat_map.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.json_response({
        "event_id": event["id"], "version": seat_map.version, "seats": seat_map.seats,
    }, headers=headers)


async def api_seat_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent seat changes; ``?since=<version>`` first replays changes after a map load."""
    event, _session = await _event_and_session(request)
    since_raw = request.query.get("since")
    since: int | None = None
    if since_raw is not None:
        if not (since_raw.isascii() and since_raw.isdigit()) or len(since_raw) > 18:
            raise ValidationFailed("since must be a seat map version.", code="invalid_since")
        since = int(since_raw)
    app = request.app
    hub = app[HUB_KEY]
    sub = hub.subscribe(event["id"])  # before the replay, so nothing falls between the two
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",
        **API_SECURITY_HEADERS,
    })
    changes: list[dict[str, Any]] = []
    try:
        if since is not None:
            changes = await ev.seat_changes_since(app[POOL_KEY], app[TUNING_KEY], event["id"],
                                                  since)
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        if changes:
            await response.write(sse_frame("seats", {"event_id": event["id"],
                                                      "seats": changes}).encode())
        heartbeat = app[TUNING_KEY].stream_heartbeat_s
        while True:
            try:
                frame = await asyncio.wait_for(sub.queue.get(), heartbeat)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if frame is None:
                break
            await response.write(frame.encode())
    except ConnectionResetError:
        pass
    finally:
        hub.unsubscribe(sub)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


@metrics.counted(metrics.HOLDS, "hold")
async def api_hold(request: web.Request) -> web.Response:
    event, session = await _event_and_session(request)
    body = await read_json(request)
    tuning = request.app[TUNING_KEY]
    seat_ids = holds.parse_seat_ids(body.get("seat_ids"), event["per_visitor_limit"],
                                    tuning.max_seats_per_request)
    key = holds.check_idempotency_key(request.headers.get("Idempotency-Key"))
    outcome = await holds.place_hold(request.app[POOL_KEY], tuning, event, session.visitor,
                                     seat_ids, key, request.app[HUB_KEY].known)
    return web.json_response(outcome.body, status=outcome.status)


def _session_or_401(request: web.Request) -> Any:
    session = gate.session_of(request, request.app[SESSIONS_KEY])
    if session is None:
        raise NoSession(headers={"WWW-Authenticate": "Bearer"})
    return session


@metrics.counted(metrics.CONFIRMS, "confirm")
async def api_confirm(request: web.Request) -> web.Response:
    session = _session_or_401(request)
    app = request.app
    done = await holds.confirm_hold(app[POOL_KEY], app[TUNING_KEY], _int_param(request, "hold"),
                                    session.room, session.visitor)
    if done.created:
        app[DEPARTURES_KEY].visitor_left(done.room, session.visitor)
    return web.json_response({"booking_id": done.booking_id}, status=201)


async def api_release(request: web.Request) -> web.Response:
    session = _session_or_401(request)
    app = request.app
    await holds.release_hold(app[POOL_KEY], app[TUNING_KEY], _int_param(request, "hold"),
                             session.room, session.visitor)
    return web.Response(status=204)


async def api_bookings(request: web.Request) -> web.Response:
    session = _session_or_401(request)
    app = request.app
    event = await app[EVENTS_KEY].by_room(app[POOL_KEY], app[TUNING_KEY], session.room)
    bookings = [] if event is None else await holds.list_bookings(
        app[POOL_KEY], app[TUNING_KEY], event["id"], session.visitor)
    return web.json_response({"bookings": bookings})


async def api_cancel(request: web.Request) -> web.Response:
    session = _session_or_401(request)
    app = request.app
    result = await holds.cancel_booking(app[POOL_KEY], app[TUNING_KEY],
                                        _int_param(request, "booking"), session.room,
                                        session.visitor, app[HUB_KEY].known)
    return web.json_response(result)
