"""Operator API (bearer token or dashboard session): rooms and their settings, live figures,
the audit log, ending a session.

``DELETE /admin/api/rooms/{room}/active/{visitor}`` is the ticketing app's call when a buyer
completes or gives up, so the admission slot frees at once. Those routine departures carry
``X-Fairgate-Departure`` and go to the event log only; the same call made by an operator is an
audited change.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fairgate import audit
from fairgate.logs import log_event
from fairgate.web import ServiceUnavailable, read_json, require_admin

from . import eta, keys, rooms
from .appkeys import REDIS_KEY, SCRIPTS_KEY, SNAPSHOTS_KEY
from .errors import RoomNotFound
from .storage import REDIS_DOWN

VISITOR_MAX_LEN = 64
DEPARTURE_HEADER = "X-Fairgate-Departure"
# "Polling visitors" counts those whose last poll is at most this old.
POLLING_WINDOW_S = 60


def _room(request: web.Request) -> tuple[str, str]:
    actor = require_admin(request)
    return actor, rooms.check_room_name(request.match_info["room"])


async def _record(request: web.Request, entry: dict[str, Any]) -> None:
    await audit.record_redis(request.app[REDIS_KEY], keys.AUDIT, "waitingroom", entry)


async def list_rooms(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        found = await rooms.list_rooms(request.app[REDIS_KEY])
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response({"rooms": [c.public(name) for name, c in found.items()]})


# Derived or fixed fields an operator does not set: left out of audit entries.
NOT_AUDITED = ("room", "opens_at_iso", "created_at")


def _settings(config: rooms.RoomConfig, room: str) -> dict[str, Any]:
    return {k: v for k, v in config.public(room).items() if k not in NOT_AUDITED}


async def _current(request: web.Request, room: str) -> dict[str, Any] | None:
    try:
        return _settings(await rooms.get_room(request.app[REDIS_KEY], room), room)
    except RoomNotFound:
        return None


async def put_room(request: web.Request) -> web.Response:
    actor, room = _room(request)
    data = await read_json(request)
    rooms.validate(data)  # a bad body is refused before anything is read or written
    try:
        before = await _current(request, room)
        config, created = await rooms.put_room(request.app[REDIS_KEY], room, data)
        old, new = audit.changed_fields(before, _settings(config, room))
        await _record(request, audit.make_entry(
            actor, "room.create" if created else "room.replace", room, old, new))
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.json_response(config.public(room), status=201 if created else 200)


async def patch_room(request: web.Request) -> web.Response:
    actor, room = _room(request)
    data = await read_json(request)
    rooms.validate(data)
    try:
        before = await _current(request, room)
        config = await rooms.patch_room(
            request.app[REDIS_KEY], request.app[SCRIPTS_KEY], room, data
        )
        old, new = audit.changed_fields(before, _settings(config, room))
        if new:
            await _record(request, audit.make_entry(actor, "room.update", room, old, new))
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.json_response(config.public(room))


async def get_room(request: web.Request) -> web.Response:
    _, room = _room(request)
    try:
        config = await rooms.get_room(request.app[REDIS_KEY], room)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response(config.public(room))


async def delete_room(request: web.Request) -> web.Response:
    actor, room = _room(request)
    try:
        before = await _current(request, room)
        await rooms.delete_room(request.app[REDIS_KEY], room)
        await _record(request, audit.make_entry(actor, "room.delete", room, before, None))
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.Response(status=204)


async def room_stats(request: web.Request) -> web.Response:
    """Live figures, plus what the dashboard charts: the wait of the last person in line (the
    same estimate, with its range, as the visitors' ETA and the "what if" preview) and how many
    visitors are polling."""
    _, room = _room(request)
    redis = request.app[REDIS_KEY]
    k = keys.RoomKeys(room)
    try:
        figures = await rooms.stats(redis, room)
        now = time.time()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcount(k.seen, now - POLLING_WINDOW_S, "+inf")
            pipe.hget(k.config, "session_ttl")
            pipe.hmget(k.bucket, "rate_pm", "noshow")
            polling, ttl, (measured, noshow) = await pipe.execute()
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    band = eta.rate_band(
        figures["admit_per_minute"], float(measured) if measured is not None else None,
        active=figures["active"], max_active=figures["max_active"],
        session_ttl=int(ttl or rooms.RoomConfig.session_ttl),
    )
    last = eta.drain_wait(int(figures["queue_length"]), float(noshow or 0.0), band)
    figures["last_wait_s"] = last.eta_s if last else None
    figures["last_wait_range_s"] = last.range_s if last else None
    figures["polling_visitors"] = int(polling)
    figures["ts"] = round(now, 3)
    return web.json_response(figures)


async def audit_log(request: web.Request) -> web.Response:
    require_admin(request)
    limit = audit.limit_param(request)
    try:
        entries = await audit.read_redis(request.app[REDIS_KEY], keys.AUDIT, limit)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response({"entries": entries})


async def end_session(request: web.Request) -> web.Response:
    """The buyer is done (bought or gave up): free their admission slot now."""
    actor, room = _room(request)
    visitor = request.match_info["visitor"]
    if not visitor or len(visitor) > VISITOR_MAX_LEN:
        raise RoomNotFound("No such visitor.", code="visitor_not_found")
    redis = request.app[REDIS_KEY]
    k = keys.RoomKeys(room)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.exists(k.config)
            pipe.zrem(k.active, visitor)
            exists, removed = await pipe.execute()
        if not exists:
            raise RoomNotFound()
        if request.headers.get(DEPARTURE_HEADER):
            log_event("visitor_left", app="waitingroom", room=room, visitor=visitor,
                      freed=bool(removed))
        else:
            await _record(request, audit.make_entry(
                actor, "visitor.remove", f"{room}/{visitor}", {"active": bool(removed)},
                {"active": False}))
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.Response(status=204)
