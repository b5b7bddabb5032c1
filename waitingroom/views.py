"""Visitor-facing HTTP handlers: parse the request, call the queue, shape the answer."""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import hdrs, web
from multidict import istr

from fairgate.i18n import pick_language
from fairgate.tokens import TICKET_MAX_AGE_S
from fairgate.web import API_SECURITY_HEADERS, ApiError, read_json, render

from . import failopen, pow
from .appkeys import QUEUE_KEY
from .errors import RedisUnavailable, RoomClosed, RoomNotFound, RoomRejecting, TurnPassed
from .messages import JS_KEYS, STRINGS, format_people, format_range, format_wait
from .openapi import SPEC
from .queue import JOIN_FIELDS, STATUS_FIELDS, Visit
from .rooms import check_room_name

TICKET_HEADER = istr("X-Queue-Ticket")  # istr: folded once, not on every look-up


# The hot answers are encoded with orjson and given to aiohttp as bytes with their headers
# ready-made, which skips json.dumps, the str -> bytes step and content-type parsing.
_JSON_TYPE = "application/json; charset=utf-8"


def _json(body: dict[str, Any], *, no_store: bool = False) -> web.Response:
    headers = {"Content-Type": _JSON_TYPE}
    if no_store:
        headers["Cache-Control"] = "no-store"
    return web.Response(body=orjson.dumps(body), headers=headers)


def cookie_name(room: str) -> str:
    return f"wr_ticket_{room}"


def _room(request: web.Request) -> str:
    return check_room_name(request.match_info["room"])


def _ticket(request: web.Request, room: str) -> str | None:
    """API clients may send the ticket in a header instead of the cookie."""
    return request.headers.get(TICKET_HEADER) or request.cookies.get(cookie_name(room))


# The ticket cookie's attributes, as set_cookie() writes them.
_COOKIE_ATTRIBUTES = f"; HttpOnly; Max-Age={TICKET_MAX_AGE_S}; Path=/; SameSite=Lax"


def _hand_over(request: web.Request, response: web.StreamResponse, visit: Visit) -> None:
    response.headers[TICKET_HEADER] = visit.ticket
    response.headers["Cache-Control"] = "no-store"
    # The header set_cookie() would write, without its Morsel (about 9 µs of every join):
    # nothing needs quoting, a ticket being URL-safe base64 and dots and a room name letters,
    # digits and dashes.
    response.headers.add(
        hdrs.SET_COOKIE,
        f"{cookie_name(visit.room)}={visit.ticket}{_COOKIE_ATTRIBUTES}"
        + ("; Secure" if request.secure else ""),
    )


async def join(request: web.Request) -> web.Response:
    room = _room(request)
    body = await read_json(request)  # a broken or huge body is refused
    raw = _ticket(request, room)
    try:
        visit = await pow.join(request.app, room, raw, body.get("pow"))
    except RedisUnavailable:
        return _fail_open(request, room, raw)
    response = _json(visit.answer(*JOIN_FIELDS))
    _hand_over(request, response, visit)
    return response


# The waiting visitor's answer, with every header the edge would add already in place.
_WAITING_HEADERS = {hdrs.CONTENT_TYPE: _JSON_TYPE, hdrs.CACHE_CONTROL: "no-store",
                    **API_SECURITY_HEADERS}


async def status(request: web.Request) -> web.Response:
    queue = request.app[QUEUE_KEY]
    # Nearly every poll: a visitor still waiting in a room this process knows (so the name
    # in the URL is valid), answered from the snapshot without building a Visit.
    room = request.match_info["room"]
    # What _ticket() reads, without the call.
    raw = request.headers.get(TICKET_HEADER) or request.cookies.get(cookie_name(room))
    body = queue.waiting_answer(room, raw)
    if body is not None:
        return web.Response(body=body, headers=_WAITING_HEADERS)
    room = check_room_name(room)
    try:
        visit = await queue.status(room, raw)
    except RedisUnavailable:
        return _fail_open(request, room, raw)
    body = visit.answer(*STATUS_FIELDS)
    if visit.ticket != raw:
        # The number was drawn at opening (or the place restored): a new ticket proves it.
        body["ticket"] = visit.ticket
        response = _json(body)
        _hand_over(request, response, visit)
        return response
    return _json(body, no_store=True)


def _fail_open(request: web.Request, room: str, raw: str | None) -> web.Response:
    """Redis is unreachable: the room's ``on_redis_failure`` decides (failopen.py)."""
    opened = failopen.pass_through(request.app, room, raw)
    if opened is None:
        raise RedisUnavailable()
    return web.json_response(opened, headers={"Cache-Control": "no-store"})


async def leave(request: web.Request) -> web.Response:
    room = _room(request)
    await read_json(request)
    held = await request.app[QUEUE_KEY].leave(room, _ticket(request, room))
    response = web.json_response({"room": room, "left": held})
    response.del_cookie(cookie_name(room), path="/")
    return response


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


async def queue_page(request: web.Request) -> web.Response:
    """The page people wait on; it joins them if they have no ticket yet."""
    try:
        room = _room(request)
    except ApiError as exc:
        return _problem_page(request, "", "bad_room", exc.status)
    try:
        raw = _ticket(request, room)
        visit = await pow.join(request.app, room, raw, None)
    except pow.PowRequired as exc:
        return pow.page(request, room, exc)
    except RoomNotFound as exc:
        return _problem_page(request, room, "not_found", exc.status)
    except RoomClosed:
        return _problem_page(request, room, "closed", 200)
    except RoomRejecting:
        # A finished page, not an error: the sale is over for now (the API says 409 sold_out).
        return _problem_page(request, room, "sold_out", 200)
    except RedisUnavailable as exc:
        opened = failopen.pass_through(request.app, room, raw)
        if opened is not None:
            return web.Response(status=303, headers={"Location": opened["redirect_url"],
                                                     "Cache-Control": "no-store"})
        response = _problem_page(request, room, "unavailable", exc.status, refresh_s=5)
        response.headers.update(exc.headers)
        return response
    except TurnPassed as exc:
        return _problem_page(request, room, "turn_passed", exc.status)
    response = render(request, "queue.html", _page_context(request, visit), catalog=STRINGS)
    _hand_over(request, response, visit)
    return response


def _page_context(request: web.Request, visit: Visit) -> dict[str, Any]:
    t = STRINGS.strings(pick_language(request.headers.get("Accept-Language", "")))
    status_url = request.app.router["status"].url_for(room=visit.room)
    progress = 0.0
    if visit.number:
        progress = min(1.0, visit.serving / visit.number)
    return {
        "room": visit.room,
        "visit": visit,
        "ahead_text": format_people(visit.ahead, t) if visit.ahead is not None else "",
        "eta_text": format_wait(visit.eta_s, t),
        "eta_range_text": format_range(visit.eta_range_s, t),
        "mode": visit.mode,
        "rate_text": t["per_minute"].format(n=f"{visit.admit_per_minute:,}"),
        "progress_pct": math.floor(progress * 100),
        "status_url": str(status_url),
        "page_url": str(request.app.router["queue_page"].url_for(room=visit.room)),
        "refresh_s": max(2, min(30, visit.poll_after_ms // 1000)),
        "js_strings": {key: t[key] for key in JS_KEYS},
    }


def _problem_page(
    request: web.Request, room: str, key: str, status: int, *, refresh_s: int | None = None
) -> web.Response:
    return render(
        request, "queue_problem.html",
        {"room": room, "problem": key, "refresh_s": refresh_s}, catalog=STRINGS, status=status,
    )
