"""``waitingroom-admin``: the operator's command line over the admin APIs of both apps.

    waitingroom-admin rooms list
    waitingroom-admin rooms show ROOM
    waitingroom-admin rooms set ROOM [--rate N] [--max-active N] [--session-ttl S]
                                     [--state open|paused|closed] [--target-url URL]
                                     [--opens-at WHEN] [--mode MODE] [--standby-max N]
                                     [--pow BITS] [--on-redis-failure POLICY]
    waitingroom-admin rooms watch ROOM [--interval S] [--once | --count N]
    waitingroom-admin events create --name NAME --room ROOM --section A:ROWS:SEATS:PRICE ...
                                    [--limit N] [--hold-ttl S] [--currency CODE]
                                    [--sale-starts WHEN] [--sale-ends WHEN]
    waitingroom-admin events list
    waitingroom-admin events report EVENT
    waitingroom-admin audit [--ticketing] [--limit N]

``--url`` is the waiting room (default ``WAITINGROOM_URL`` or http://127.0.0.1:8080),
``--ticketing-url`` the ticketing app (default ``TICKETING_URL`` or http://127.0.0.1:8081); the
token comes from ``--token`` or ``ADMIN_TOKEN``. ``--json`` prints the APIs' JSON instead of
tables (one JSON document per frame for ``rooms watch``).

Exit codes: 0 done, 1 the API refused (bad token, bad value, unknown room or event, server
error), 2 wrong usage or no token, 3 the server could not be reached, 130 interrupted (Ctrl-C,
except during ``rooms watch``, which it ends with 0), 141 the output's reader went away
(``| head``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

from ..rooms import MODES, REDIS_FAILURE_POLICIES
from . import commands
from .client import EXIT_OK, EXIT_USAGE, CliFailure
from .commands import ROOM_FIELDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waitingroom-admin",
        description="Operate waiting rooms and ticketing events through the admin APIs.",
        epilog="exit codes: 0 done, 1 the API refused, 2 wrong usage or no token, "
               "3 cannot connect, 130 interrupted, 141 the output's reader went away",
    )
    parser.add_argument(
        "--url", default=os.environ.get("WAITINGROOM_URL") or "http://127.0.0.1:8080",
        help="waiting room base URL (default: WAITINGROOM_URL or http://127.0.0.1:8080)")
    parser.add_argument(
        "--ticketing-url",
        default=os.environ.get("TICKETING_URL") or "http://127.0.0.1:8081",
        help="ticketing base URL (default: TICKETING_URL or http://127.0.0.1:8081)")
    parser.add_argument("--token", default=None, help="admin token (default: ADMIN_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    groups = parser.add_subparsers(dest="group", required=True)

    rooms = groups.add_parser("rooms", help="list, show, change or watch rooms")
    actions = rooms.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="all rooms and their settings")
    show = actions.add_parser("show", help="one room's settings and live figures")
    show.add_argument("room")
    change = actions.add_parser("set", help="create a room or change its settings")
    change.add_argument("room")
    change.add_argument("--rate", type=int, dest="admit_per_minute",
                        help="admissions per minute (0 pauses admission)")
    change.add_argument("--max-active", type=int, dest="max_active",
                        help="most admitted sessions at once")
    change.add_argument("--session-ttl", type=int, dest="session_ttl",
                        help="seconds an admission lasts")
    change.add_argument("--state", choices=("open", "paused", "closed"))
    change.add_argument("--target-url", dest="target_url", help="where admitted visitors go")
    change.add_argument("--opens-at", dest="opens_at",
                        help="sale start: unix seconds or ISO-8601 ('' clears it)")
    change.add_argument("--mode", choices=MODES, help="how the room admits (docs/rooms.md)")
    change.add_argument("--standby-max", type=int, dest="standby_max_per_minute",
                        help="standby mode: new visitors per minute let straight through")
    change.add_argument("--pow", type=int, dest="pow_difficulty",
                        help="proof-of-work bits asked at join (0 turns it off)")
    change.add_argument("--on-redis-failure", choices=REDIS_FAILURE_POLICIES,
                        dest="on_redis_failure", help="who gets in while Redis is unreachable")
    watch = actions.add_parser("watch", help="a live view of one room (Ctrl-C stops it)")
    watch.add_argument("room")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between frames")
    frames = watch.add_mutually_exclusive_group()
    frames.add_argument("--once", action="store_const", const=1, dest="count",
                        help="print one frame and stop")
    frames.add_argument("--count", type=int, default=None, help="stop after N frames")

    events = groups.add_parser("events", help="create, list and reconcile ticketing events")
    ev_actions = events.add_subparsers(dest="action", required=True)
    create = ev_actions.add_parser("create", help="create an event with its seat layout")
    create.add_argument("--name", required=True)
    create.add_argument("--room", required=True, help="the waiting room that admits buyers")
    create.add_argument("--section", action="append", required=True, dest="sections",
                        metavar="NAME:ROWS:SEATS:PRICE",
                        help="a section (repeat for several); PRICE in minor units")
    create.add_argument("--limit", type=int, dest="per_visitor_limit",
                        help="seats per buyer (default 4)")
    create.add_argument("--hold-ttl", type=int, dest="hold_ttl_s",
                        help="seconds a hold lasts (default 300)")
    create.add_argument("--currency", help="ISO 4217 code (default USD)")
    create.add_argument("--sale-starts", dest="sale_starts_at",
                        help="ISO-8601 time with a UTC offset, e.g. 2030-05-01T10:00:00Z")
    create.add_argument("--sale-ends", dest="sale_ends_at", help="ISO-8601 time")
    ev_actions.add_parser("list", help="all events")
    report = ev_actions.add_parser("report", help="seats, bookings and revenue of an event")
    report.add_argument("event", type=int)

    audit = groups.add_parser("audit", help="the operators' recent changes")
    audit.add_argument("--ticketing", action="store_true",
                       help="the ticketing app's log instead of the waiting room's")
    audit.add_argument("--limit", type=int, default=20,
                       help="entries, newest first (1-1000, default 20)")
    return parser


def _section(raw: str) -> dict[str, Any]:
    parts = raw.split(":")
    if len(parts) != 4 or not all(p.strip().isascii() and p.strip().isdigit()
                                  for p in parts[1:]):
        raise argparse.ArgumentTypeError(
            f"--section {raw!r}: expected NAME:ROWS:SEATS:PRICE, for example A:10:20:5000")
    name, rows, seats, price = parts
    return {"name": name, "rows": int(rows), "seats_per_row": int(seats), "price": int(price)}


# The longest pause between two frames of a watch.
MAX_INTERVAL_S = 3600
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def _url_problem(option: str, url: str) -> str | None:
    """What is wrong with a base URL, before any request is made with it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no port
    except ValueError as exc:
        return f"{option} {url!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{option} {url!r} must be an http(s) URL, for example http://127.0.0.1:8080"
    if parts.username is not None or parts.password is not None:
        return f"{option}: no credentials in the URL; the token goes in ADMIN_TOKEN or --token"
    return None


def _token_problem(token: str) -> str | None:
    if not token:
        return "no admin token (set ADMIN_TOKEN or pass --token)"
    if any(ord(c) < 32 or ord(c) == 127 for c in token):
        return ("the admin token holds a control character (a file saved with Windows line "
                "endings leaves a CR at its end)")
    return None


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.group == "rooms" and args.action == "set" and not any(
        getattr(args, n) is not None for n in ROOM_FIELDS
    ):
        return "rooms set needs at least one setting"
    if args.group == "rooms" and args.action == "watch":
        if not 0 < args.interval <= MAX_INTERVAL_S:  # NaN fails this too
            return f"--interval must be above 0 and at most {MAX_INTERVAL_S} seconds"
        if args.count is not None and args.count < 1:
            return "--count must be at least 1"
    if args.group == "events" and args.action == "create":
        try:
            args.sections = [_section(s) for s in args.sections]
        except argparse.ArgumentTypeError as exc:
            return str(exc)
    if args.group == "audit" and not 1 <= args.limit <= 1000:
        return "--limit must be from 1 to 1000"
    return None


def main(argv: list[str] | None = None) -> int:
    # An output encoding without the watch's bars or the audit's "…" (PYTHONIOENCODING=ascii,
    # a C locale on an old system) shows "?" for them instead of failing with a traceback.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return int(exc.code or 0)
    token = (args.token or os.environ.get("ADMIN_TOKEN", "")).strip()
    uses_ticketing = args.group == "events" or (args.group == "audit" and args.ticketing)
    problem = (_token_problem(token) or _usage_problem(args)
               or (_url_problem("--ticketing-url", args.ticketing_url) if uses_ticketing
                   else _url_problem("--url", args.url)))
    if problem:
        print(f"waitingroom-admin: {problem}", file=sys.stderr)
        return EXIT_USAGE
    watching = args.group == "rooms" and args.action == "watch"
    try:
        output = asyncio.run(commands.run(args, token))
        if output is not None:
            print(json.dumps(output, indent=2, sort_keys=True) if args.json else output)
            sys.stdout.flush()
    except CliFailure as exc:
        print(f"waitingroom-admin: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyError as exc:  # an answer without a field every answer of that API has
        print(f"waitingroom-admin: the answer has no {exc} field: is the URL the right app?",
              file=sys.stderr)
        return CliFailure.exit_code
    except BrokenPipeError:
        # The reader went away (| head): the rest is not wanted. Python would report the
        # failed flush of stdout at exit, so point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if watching:  # Ctrl-C is how a watch is meant to stop
            print()
            return EXIT_OK
        print("\nwaitingroom-admin: interrupted; the command may or may not have taken effect",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
