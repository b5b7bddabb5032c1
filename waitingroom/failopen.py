"""The room setting ``on_redis_failure``: what join, status and the queue page do while Redis
cannot be reached.

``fail_closed`` (the default) lets nobody through: 503 with ``Retry-After``, the page says it is
reconnecting. ``fail_open`` sends visitors to the target with an admission token signed here,
from the room settings this process last read, without Redis: some sites would rather admit
everyone than sell nothing. A process that has not read the room since it started knows no
settings and stays closed. Tickets are not issued while open this way (their numbers could not
be recorded), so a visitor's place, if they had one, is kept for when Redis is back.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fairgate.tokens import new_visitor_id
from fairgate.web import SIGNER_KEY

from .appkeys import QUEUE_KEY
from .queue import MAX_POLL_MS, redirect_url

FAIL_OPEN = "fail_open"


def pass_through(app: web.Application, room: str, raw_ticket: str | None) -> dict[str, Any] | None:
    """An admitted answer signed without Redis, or None when the room fails closed."""
    snap = app[QUEUE_KEY].snapshots.cached(room)
    if snap is None:
        return None
    config = snap.config
    now = time.time()
    if config.on_redis_failure != FAIL_OPEN or not config.target_url:
        return None
    # Failing open lets people in as the room would have; it never opens a room that admits
    # nobody now (closed, paused, knob at zero, sold out, or before opens_at).
    admitting = (config.state == "open" and config.admit_per_minute > 0
                 and config.mode != "reject"
                 and (config.opens_at is None or config.opens_at <= now))
    if not admitting:
        return None
    signer = app[SIGNER_KEY]
    visitor, number = new_visitor_id(), None
    held = app[QUEUE_KEY].read_ticket(room, raw_ticket, snap)
    if held is not None:
        visitor = held.visitor
        number = None if held.pre else held.number
    # The token's number is informative only (the ticketing app keys on the token id); a
    # newcomer has none, so the last number known to be issued stands in.
    token = signer.admission(room, visitor, number or max(1, snap.issued), now + config.session_ttl)
    return {
        "room": room, "state": "admitted", "number": number, "ticket": raw_ticket,
        "serving": snap.serving, "position": 0, "ahead": 0, "eta_s": 0,
        "admit_per_minute": config.admit_per_minute, "poll_after_ms": MAX_POLL_MS,
        "redirect_url": redirect_url(config.target_url, token), "fail_open": True,
    }
