"""What each CLI command asks the admin APIs, and what it prints."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

from . import render
from .client import Api, ApiFailure, CannotConnect, CliFailure, failure, session

ROOM_FIELDS = ("admit_per_minute", "max_active", "session_ttl", "state", "target_url",
               "opens_at", "mode", "standby_max_per_minute", "pow_difficulty", "on_redis_failure")
EVENT_FIELDS = ("name", "room", "per_visitor_limit", "hold_ttl_s", "currency",
                "sale_starts_at", "sale_ends_at")
# Terminal control: cursor home and clear screen, so a watch redraws in place.
CLEAR = "\x1b[H\x1b[2J"
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
# Answers a watch waits out like an unreachable server: a proxy or a restarting app (or one
# whose Redis is down) answers these for a while.
RETRY_STATUSES = (502, 503, 504)


async def run(args: argparse.Namespace, token: str) -> Any:
    async with session(token) as http:
        rooms_api = Api(http, args.url)
        tk_api = Api(http, args.ticketing_url)
        if args.group == "rooms":
            return await _rooms(args, rooms_api)
        if args.group == "events":
            return await _events(args, tk_api, rooms_api)
        api = tk_api if args.ticketing else rooms_api
        data = await api.get(f"/admin/api/audit?limit={args.limit}")
        return data if args.json else render.audit_table(data["entries"])


def _room_path(room: str) -> str:
    return f"/admin/api/rooms/{quote(room, safe='')}"


async def _rooms(args: argparse.Namespace, api: Api) -> Any:
    if args.action == "list":
        data = await api.get("/admin/api/rooms")
        return data if args.json else render.rooms_table(data["rooms"])
    path = _room_path(args.room)
    if args.action == "show":
        room, figures = await asyncio.gather(api.get(path), api.get(path + "/stats"))
        data = {**room, "stats": figures}
        return data if args.json else render.room_details(data)
    if args.action == "watch":
        await _watch(args, api, path)
        return None
    fields = {n: getattr(args, n) for n in ROOM_FIELDS if getattr(args, n) is not None}
    if "opens_at" in fields:
        raw = fields["opens_at"].strip()
        # Unix seconds as digits only (float() would also take "1_000" or "1e3"); anything
        # else is an ISO-8601 time for the server to parse, or refuse.
        fields["opens_at"] = (None if not raw else float(raw) if _SECONDS.fullmatch(raw)
                              else raw)
    status, data = await api.call("PATCH", path, fields, ok=(200, 404))
    if status == 404:
        if "target_url" not in fields:  # a mistyped name, most likely: say so
            raise failure(status, data, api.base + path)
        # A new room: PUT creates it (target_url is required, and given).
        _, data = await api.call("PUT", path, fields)
    return data if args.json else render.rooms_table([data])


async def _missing_room_note(rooms_api: Api, room: str, ticketing_url: str) -> str | None:
    """A word for the operator when the waiting room has no such room (yet): nobody can be
    admitted to the event until it exists. Creating the event first is allowed."""
    try:
        status, data = await rooms_api.call("GET", _room_path(room), ok=(200, 404))
        if status == 404 and data.get("error") != "room_not_found":
            raise failure(status, data, rooms_api.base + _room_path(room))
    except CliFailure as exc:
        return f"could not check that the waiting room has room {room!r} ({exc})"
    if status == 404:
        return (f"the waiting room at {rooms_api.base} has no room {room!r} yet; nobody is "
                f"admitted to this event until it does: waitingroom-admin rooms set {room} "
                f"--target-url {ticketing_url.rstrip('/')}/enter")
    return None


async def _watch(args: argparse.Namespace, api: Api, path: str) -> None:
    """Redraw the room's figures every interval until Ctrl-C (or ``--count`` frames).

    A server that stops answering is shown in the frame and retried: a watch is meant to keep
    running through a restart. Any refusal (bad token, unknown room) ends it with exit 1.
    """
    history: dict[str, list[float | None]] = {"queue": [], "measured": [], "active": []}
    tty = sys.stdout.isatty() and not args.json
    frame = 0
    while args.count is None or frame < args.count:
        started = time.monotonic()
        at = datetime.now().strftime("%H:%M:%S")
        try:
            cfg, figures = await asyncio.gather(api.get(path), api.get(path + "/stats"))
        except (CannotConnect, ApiFailure) as exc:
            if isinstance(exc, ApiFailure) and exc.status not in RETRY_STATUSES:
                raise
            if args.count is not None and frame + 1 >= args.count:
                raise
            print(f"{CLEAR if tty else ''}{at}  {exc}; retrying", flush=True)
        else:
            history["queue"].append(figures.get("queue_length"))
            history["measured"].append(figures.get("admitted_per_minute"))
            history["active"].append(figures.get("active"))
            for series in history.values():
                del series[:-render.SPARK_WIDTH]
            if args.json:
                print(json.dumps({**figures, "config": cfg}, sort_keys=True), flush=True)
            else:
                text = render.watch_frame(args.room, cfg, figures, history, at)
                print(CLEAR + text if tty else text + "\n", flush=True)
        frame += 1
        if args.count is None or frame < args.count:
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - started)))


async def _events(args: argparse.Namespace, api: Api, rooms_api: Api) -> Any:
    if args.action == "list":
        data = await api.get("/admin/api/events")
        if args.json:
            return data
        return render.table(
            ["ID", "NAME", "ROOM"],
            [[e.get("id"), e.get("name"), e.get("room")] for e in data["events"]],
            right=(0,)) if data["events"] else "no events"
    if args.action == "report":
        data = await api.get(f"/admin/api/events/{args.event}/report")
        return data if args.json else render.report_table(data)
    body = {n: getattr(args, n) for n in EVENT_FIELDS if getattr(args, n) is not None}
    body["sections"] = args.sections
    _, data = await api.call("POST", "/admin/api/events", body)
    note = await _missing_room_note(rooms_api, body["room"], args.ticketing_url)
    if note:
        print(f"waitingroom-admin: note: {note}", file=sys.stderr)
    if args.json:
        return data
    return (f"event {data['id']} created: {data['name']} (room {data['room']}), "
            f"{data['seat_count']:,} seats, page {args.ticketing_url.rstrip('/')}{data['url']}")
