"""The operator's "what if": the wait of the last person in line at a proposed admission rate.

``GET /admin/api/rooms/{room}/preview?admit_per_minute=N`` reads the room as it is now (one
pipelined read, nothing written) and answers with the wait at ``N`` next to the wait at the
current knob, each with its range (eta.py), so the operator sees the effect before applying it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from fairgate.redisconn import RedisClient
from fairgate.web import ServiceUnavailable, ValidationFailed, require_admin

from . import keys, rooms
from .appkeys import REDIS_KEY
from .errors import RoomNotFound
from .eta import Estimate, drain_wait, rate_band
from .storage import REDIS_DOWN

FIELD = "admit_per_minute"
_WHOLE = re.compile(r"^-?\d{1,12}$")


def proposed_rate(query: Any) -> int:
    """The ``admit_per_minute`` query value; 422 naming the field when missing or bad."""
    raw = query.get(FIELD)
    if raw is None or not _WHOLE.match(raw.strip()):
        raise ValidationFailed(f"{FIELD} must be a whole number.", field=FIELD)
    value = int(raw.strip())
    if not 0 <= value <= rooms.MAX_ADMIT_PER_MINUTE:
        raise ValidationFailed(
            f"{FIELD} must be between 0 and {rooms.MAX_ADMIT_PER_MINUTE}.", field=FIELD
        )
    return value


async def _read(redis: RedisClient, room: str) -> tuple[rooms.RoomConfig, int, int, Any, Any]:
    k = keys.RoomKeys(room)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(k.config)
        pipe.zcard(k.queue)
        pipe.zcount(k.active, f"({time.time()}", "+inf")
        pipe.hmget(k.bucket, "rate_pm", "noshow")
        raw, queued, active, (measured, noshow) = await pipe.execute()
    if not raw:
        raise RoomNotFound()
    return rooms.RoomConfig.from_hash(raw), int(queued), int(active), measured, noshow


def _wait(
    knob: int, measured: float | None, config: rooms.RoomConfig, active: int, queued: int,
    noshow: float,
) -> Estimate | None:
    band = rate_band(knob, measured, active=active, max_active=config.max_active,
                     session_ttl=config.session_ttl)
    return drain_wait(queued, noshow, band)


async def preview(request: web.Request) -> web.Response:
    require_admin(request)
    room = rooms.check_room_name(request.match_info["room"])
    proposed = proposed_rate(request.query)
    try:
        config, queued, active, measured_raw, noshow_raw = await _read(request.app[REDIS_KEY], room)
    except REDIS_DOWN as exc:
        raise ServiceUnavailable() from exc
    measured = float(measured_raw) if measured_raw is not None else None
    noshow = float(noshow_raw) if noshow_raw is not None else 0.0
    now = _wait(config.admit_per_minute, measured, config, active, queued, noshow)
    # The measured rate belongs to the current knob; at another rate only the knob is known.
    then = _wait(proposed, measured if proposed == config.admit_per_minute else None,
                 config, active, queued, noshow)
    return web.json_response({
        "room": room,
        "admit_per_minute": proposed,
        "queue_length": queued,
        "last_wait_s": then.eta_s if then else None,
        "last_wait_range_s": then.range_s if then else None,
        "current": {
            "admit_per_minute": config.admit_per_minute,
            "last_wait_s": now.eta_s if now else None,
            "last_wait_range_s": now.range_s if now else None,
        },
        "measured_per_minute": round(measured, 2) if measured is not None else None,
        "noshow_ratio": round(noshow, 4),
        "mode": config.mode,
    })
