"""Operator API (bearer token): rooms and their settings, live figures, ending a session.

``DELETE /admin/api/rooms/{room}/active/{visitor}`` is the ticketing app's call when a buyer
completes or gives up, so the admission slot frees at once.
"""

from __future__ import annotations

from aiohttp import web

from fairgate.web import ServiceUnavailable, read_json, render, require_admin

from . import keys, rooms
from .appkeys import REDIS_KEY, SCRIPTS_KEY, SNAPSHOTS_KEY
from .errors import RoomNotFound
from .messages import ADMIN_STRINGS
from .storage import REDIS_DOWN

VISITOR_MAX_LEN = 64


async def dashboard(request: web.Request) -> web.Response:
    """The operator's page: it holds no data, its script reads the API with the typed token."""
    return render(request, "admin.html", {
        "api_url": str(request.app.router["admin_rooms"].url_for()),
    }, catalog=ADMIN_STRINGS)


def _room(request: web.Request) -> str:
    require_admin(request)
    return rooms.check_room_name(request.match_info["room"])


async def list_rooms(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        found = await rooms.list_rooms(request.app[REDIS_KEY])
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response({"rooms": [c.public(name) for name, c in found.items()]})


async def put_room(request: web.Request) -> web.Response:
    room = _room(request)
    data = await read_json(request)
    try:
        config, created = await rooms.put_room(request.app[REDIS_KEY], room, data)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.json_response(config.public(room), status=201 if created else 200)


async def patch_room(request: web.Request) -> web.Response:
    room = _room(request)
    data = await read_json(request)
    try:
        config = await rooms.patch_room(
            request.app[REDIS_KEY], request.app[SCRIPTS_KEY], room, data
        )
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.json_response(config.public(room))


async def get_room(request: web.Request) -> web.Response:
    room = _room(request)
    try:
        config = await rooms.get_room(request.app[REDIS_KEY], room)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response(config.public(room))


async def delete_room(request: web.Request) -> web.Response:
    room = _room(request)
    try:
        await rooms.delete_room(request.app[REDIS_KEY], room)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    request.app[SNAPSHOTS_KEY].forget(room)
    return web.Response(status=204)


async def room_stats(request: web.Request) -> web.Response:
    room = _room(request)
    try:
        figures = await rooms.stats(request.app[REDIS_KEY], room)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    return web.json_response(figures)


async def end_session(request: web.Request) -> web.Response:
    """The buyer is done (bought or gave up): free their admission slot now."""
    room = _room(request)
    visitor = request.match_info["visitor"]
    if not visitor or len(visitor) > VISITOR_MAX_LEN:
        raise RoomNotFound("No such visitor.", code="visitor_not_found")
    redis = request.app[REDIS_KEY]
    k = keys.RoomKeys(room)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.exists(k.config)
            pipe.zrem(k.active, visitor)
            exists, _ = await pipe.execute()
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    if not exists:
        raise RoomNotFound()
    return web.Response(status=204)
