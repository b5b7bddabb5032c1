"""Operator API of the ticketing app: create events with their layout, list them, reconcile."""

from __future__ import annotations

from aiohttp import web

from fairgate.web import read_json, require_admin

from . import events as ev
from .keys import POOL_KEY, TUNING_KEY


async def create_event(request: web.Request) -> web.Response:
    require_admin(request)
    new = ev.parse_new_event(await read_json(request))
    event_id = await ev.create_event(request.app[POOL_KEY], request.app[TUNING_KEY], new)
    event = await ev.get_event(request.app[POOL_KEY], request.app[TUNING_KEY], event_id)
    seat_count = sum(s.rows * s.seats_per_row for s in new.sections)
    location = request.app.router["event_page"].url_for(event=str(event_id))
    return web.json_response(
        {"id": event_id, "event_id": event_id, "seat_count": seat_count, "url": str(location),
         **{k: v for k, v in ev.event_json(event).items() if k != "id"}},
        status=201,
    )


async def list_events(request: web.Request) -> web.Response:
    require_admin(request)
    return web.json_response(
        {"events": await ev.list_events(request.app[POOL_KEY], request.app[TUNING_KEY])}
    )


async def event_report(request: web.Request) -> web.Response:
    require_admin(request)
    report = await ev.report(request.app[POOL_KEY], request.app[TUNING_KEY],
                             int(request.match_info["event"]))
    return web.json_response(report)
