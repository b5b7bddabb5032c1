"""Operator API of the ticketing app: create events with their layout, list them, reconcile,
and read the audit log of the operators' changes (table ``admin_audit``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import asyncpg
from aiohttp import web

from fairgate import audit
from fairgate.web import read_json, require_admin

from . import events as ev
from .db import run_read, run_write
from .keys import POOL_KEY, TUNING_KEY

INSERT_AUDIT = """
INSERT INTO admin_audit (actor, action, target, old, new)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)
RETURNING id, at
"""
READ_AUDIT = """
SELECT id, at, actor, action, target, old::text AS old, new::text AS new
FROM admin_audit
ORDER BY at DESC, id DESC
LIMIT $1
"""


async def record(request: web.Request, actor: str, action: str, target: str,
                 old: Any = None, new: Any = None) -> None:
    """One audit row (and one log line) for an operator's change that has been made."""

    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        return await conn.fetchrow(
            INSERT_AUDIT, actor, action, target,
            None if old is None else json.dumps(old, default=str),
            None if new is None else json.dumps(new, default=str),
        )

    row = await run_write(request.app[POOL_KEY], request.app[TUNING_KEY], work)
    audit.logged("ticketing", audit.make_entry(actor, action, target, old, new,
                                               ts=row["at"].timestamp()) | {"id": row["id"]})


async def create_event(request: web.Request) -> web.Response:
    actor = require_admin(request)
    new = ev.parse_new_event(await read_json(request))
    event_id = await ev.create_event(request.app[POOL_KEY], request.app[TUNING_KEY], new)
    event = await ev.get_event(request.app[POOL_KEY], request.app[TUNING_KEY], event_id)
    seat_count = sum(s.rows * s.seats_per_row for s in new.sections)
    location = request.app.router["event_page"].url_for(event=str(event_id))
    described = {k: v for k, v in ev.event_json(event).items() if k != "id"}
    await record(request, actor, "event.create", f"event/{event_id}", None, {
        **described, "seat_count": seat_count,
        "sections": [asdict(s) for s in new.sections],
    })
    return web.json_response(
        {"id": event_id, "event_id": event_id, "seat_count": seat_count, "url": str(location),
         **described},
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


async def audit_log(request: web.Request) -> web.Response:
    require_admin(request)
    limit = audit.limit_param(request)
    rows = await run_read(request.app[POOL_KEY], request.app[TUNING_KEY],
                          lambda conn: conn.fetch(READ_AUDIT, limit))
    return web.json_response({"entries": [
        {
            "id": r["id"],
            "ts": round(r["at"].timestamp(), 3),
            "at": r["at"].isoformat(timespec="seconds"),
            "actor": r["actor"],
            "action": r["action"],
            "target": r["target"],
            "old": None if r["old"] is None else json.loads(r["old"]),
            "new": None if r["new"] is None else json.loads(r["new"]),
        }
        for r in rows
    ]})
