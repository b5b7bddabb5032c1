"""``waitingroom-admin``: the operator's command line over the admin API.

    waitingroom-admin rooms list
    waitingroom-admin rooms show ROOM
    waitingroom-admin rooms set ROOM [--rate N] [--max-active N] [--session-ttl S]
                                     [--state open|paused|closed] [--target-url URL]
                                     [--opens-at WHEN]

``--url`` is the waiting room's base URL (default ``WAITINGROOM_URL`` or
http://127.0.0.1:8080), the token comes from ``--token`` or ``ADMIN_TOKEN``. Exit codes: 0 done,
1 the API refused or could not be reached, 2 wrong usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

EXIT_OK, EXIT_API, EXIT_USAGE = 0, 1, 2
TIMEOUT = aiohttp.ClientTimeout(total=10)


class ApiFailure(Exception):
    """The API answered with an error, or could not be reached."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waitingroom-admin", description="Operate waiting rooms through the admin API."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("WAITINGROOM_URL") or "http://127.0.0.1:8080",
        help="waiting room base URL (default: WAITINGROOM_URL or http://127.0.0.1:8080)",
    )
    parser.add_argument("--token", default=None, help="admin token (default: ADMIN_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    sub = parser.add_subparsers(dest="group", required=True)
    rooms = sub.add_parser("rooms", help="list, show or change rooms")
    actions = rooms.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="all rooms and their settings")
    show = actions.add_parser("show", help="one room's settings and live figures")
    show.add_argument("room")
    change = actions.add_parser("set", help="create a room or change its settings")
    change.add_argument("room")
    change.add_argument("--rate", type=int, dest="admit_per_minute",
                        help="admissions per minute (0 pauses)")
    change.add_argument("--max-active", type=int, dest="max_active",
                        help="most admitted sessions at once")
    change.add_argument("--session-ttl", type=int, dest="session_ttl",
                        help="seconds an admission lasts")
    change.add_argument("--state", choices=("open", "paused", "closed"))
    change.add_argument("--target-url", dest="target_url", help="where admitted visitors go")
    change.add_argument("--opens-at", dest="opens_at",
                        help="sale start: unix seconds or ISO-8601 ('' clears it)")
    return parser


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    try:
        async with session.request(method, url, json=body) as resp:
            text = await resp.text()
            data = json.loads(text) if text else None
            return resp.status, data
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiFailure(f"cannot reach {url}: {exc or exc.__class__.__name__}") from exc
    except ValueError as exc:
        raise ApiFailure(f"{url} did not answer JSON") from exc


def _failure(status: int, data: Any) -> ApiFailure:
    if isinstance(data, dict) and "message" in data:
        field = f" (field: {data['field']})" if "field" in data else ""
        return ApiFailure(f"HTTP {status} {data.get('error', '')}: {data['message']}{field}")
    return ApiFailure(f"HTTP {status}")


def _settings_line(room: dict[str, Any]) -> str:
    opens = f" opens_at={room['opens_at_iso']}" if room.get("opens_at_iso") else ""
    return (
        f"{room['room']:<24} {room['state']:<7} rate={room['admit_per_minute']}/min "
        f"max_active={room['max_active']} session_ttl={room['session_ttl']}s "
        f"target={room['target_url']}{opens}"
    )


async def _run(args: argparse.Namespace, token: str) -> Any:
    base = args.url.rstrip("/") + "/admin/api/rooms"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers, timeout=TIMEOUT) as session:
        if args.action == "list":
            status, data = await _call(session, "GET", base)
            if status != 200:
                raise _failure(status, data)
            return data
        room_url = f"{base}/{args.room}"
        if args.action == "show":
            status, data = await _call(session, "GET", room_url)
            if status != 200:
                raise _failure(status, data)
            status, figures = await _call(session, "GET", room_url + "/stats")
            if status != 200:
                raise _failure(status, figures)
            return {**data, "stats": figures}
        fields = {
            name: getattr(args, name)
            for name in ("admit_per_minute", "max_active", "session_ttl", "state",
                         "target_url", "opens_at")
            if getattr(args, name) is not None
        }
        if "opens_at" in fields:
            raw = fields["opens_at"]
            try:
                fields["opens_at"] = float(raw) if raw else None
            except ValueError:
                fields["opens_at"] = raw  # ISO-8601: the server parses it
        status, data = await _call(session, "PATCH", room_url, fields)
        if status == 404:
            # A new room: PUT creates it (target_url is then required).
            status, data = await _call(session, "PUT", room_url, fields)
        if status not in (200, 201):
            raise _failure(status, data)
        return data


def _print(args: argparse.Namespace, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif args.action == "list":
        rooms = data.get("rooms", [])
        if not rooms:
            print("no rooms")
        for room in rooms:
            print(_settings_line(room))
    else:
        print(_settings_line(data))
        figures = data.get("stats")
        if figures:
            measured = figures["admitted_per_minute"]
            print(
                f"  queue={figures['queue_length']} serving={figures['serving']} "
                f"issued={figures['issued']} active={figures['active']}/{figures['max_active']} "
                f"lapsed={figures['lapsed']} admitted/min="
                f"{'-' if measured is None else measured} (knob {figures['admit_per_minute']})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    token = args.token or os.environ.get("ADMIN_TOKEN", "")
    if not token:
        print("waitingroom-admin: no admin token (set ADMIN_TOKEN or pass --token)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.action == "set" and not any(
        getattr(args, n) is not None
        for n in ("admit_per_minute", "max_active", "session_ttl", "state", "target_url",
                  "opens_at")
    ):
        print("waitingroom-admin: rooms set needs at least one setting", file=sys.stderr)
        return EXIT_USAGE
    try:
        data = asyncio.run(_run(args, token))
    except ApiFailure as exc:
        print(f"waitingroom-admin: {exc}", file=sys.stderr)
        return EXIT_API
    _print(args, data)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
