"""The operators' audit log: who changed what, when, from which value to which.

Both apps keep entries of the same shape, ``{"id", "ts", "at", "actor", "action", "target",
"old", "new"}``, newest first: the waiting room in a capped Redis list, the ticketing app in a
PostgreSQL table. Every entry is also written as one structured log line (``admin_change``), so
a log pipeline sees changes even when the capped list has dropped them.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .logs import log_event
from .redisconn import RedisClient
from .web import ValidationFailed

# Newest entries kept in Redis; older ones survive only in the log lines.
REDIS_CAP = 1000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def make_entry(
    actor: str, action: str, target: str, old: Any = None, new: Any = None,
    *, ts: float | None = None,
) -> dict[str, Any]:
    moment = time.time() if ts is None else ts
    return {
        "id": secrets.token_hex(6),
        "ts": round(moment, 3),
        "at": datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "old": old,
        "new": new,
    }


def changed_fields(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[
        dict[str, Any] | None, dict[str, Any] | None]:
    """Only the settings that differ, so an entry reads as the change itself."""
    if old is None or new is None:
        return old, new
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def logged(app: str, entry: dict[str, Any]) -> dict[str, Any]:
    log_event("admin_change", app=app, **{k: v for k, v in entry.items() if k != "ts"})
    return entry


async def record_redis(redis: RedisClient, key: str, app: str, entry: dict[str, Any]) -> None:
    """Prepend ``entry`` to the capped list in one round trip (LPUSH and LTRIM pipelined)."""
    logged(app, entry)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(key, json.dumps(entry, separators=(",", ":"), default=str))
        pipe.ltrim(key, 0, REDIS_CAP - 1)
        await pipe.execute()


async def read_redis(redis: RedisClient, key: str, limit: int) -> list[dict[str, Any]]:
    raw = await redis.lrange(key, 0, limit - 1)
    return [json.loads(item) for item in raw]


def limit_param(request: web.Request) -> int:
    """``?limit=N`` (1..1000, default 100); 422 naming the field otherwise."""
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    # isascii: str.isdigit() also takes "²", which int() refuses, and "٣", which it reads.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be a whole number from 1 to {MAX_LIMIT}.",
                               field="limit")
    return int(raw)
