"""Room settings: validation, storage in the room's ``config`` hash, listing and statistics.

Every write is one Redis command or script, so a PATCH either applies whole or not at all.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fairgate.names import ROOM_NAME
from fairgate.redisconn import RedisClient
from fairgate.web import ValidationFailed

from . import keys
from .errors import InvalidRoomName, RoomNotFound
from .storage import Scripts

STATES = ("open", "paused", "closed")
# How a room admits (docs/rooms.md): strict order, a lottery, no queue, turning newcomers
# away, or straight through until a limit would be passed and then in order.
MODES = ("fifo", "random", "passthrough", "reject", "standby")
FIELDS = ("admit_per_minute", "max_active", "session_ttl", "target_url", "state", "opens_at",
          "mode", "standby_max_per_minute", "pow_difficulty", "on_redis_failure")
# What status and join do while Redis cannot be reached (docs/RELIABILITY.md): let nobody in,
# or send visitors to the target with an admission token signed from the cached settings.
REDIS_FAILURE_POLICIES = ("fail_closed", "fail_open")

# Upper bounds keep a typo (an extra zero or ten) from turning into a stampede.
MAX_ADMIT_PER_MINUTE = 1_000_000
MAX_ACTIVE = 10_000_000
MAX_SESSION_TTL_S = 24 * 3600
# 2**24 hashes is some seconds of a phone's time; more would shut people out, not scripts.
MAX_POW_DIFFICULTY = 24
MAX_OPENS_AT = 253_402_300_799  # 9999-12-31T23:59:59Z
_PRINTABLE = re.compile(r"\A[\x21-\x7e]+\Z")  # ASCII without spaces or control characters


def check_room_name(room: str) -> str:
    if not ROOM_NAME.match(room):
        raise InvalidRoomName()
    return room


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """A room's live settings (DESIGN section 2)."""

    target_url: str
    admit_per_minute: int = 60
    max_active: int = 100
    session_ttl: int = 600
    state: str = "open"
    opens_at: float | None = None
    mode: str = "fifo"
    # In standby mode, at most this many visitors a minute go straight through.
    standby_max_per_minute: int = 600
    # Leading zero bits of the proof of work a join without a ticket must bring (0 = none).
    pow_difficulty: int = 0
    on_redis_failure: str = "fail_closed"
    # Tickets signed before this moment belong to an earlier room of the same name.
    created_at: float = 0.0

    def to_hash(self) -> dict[str, str]:
        return {
            "target_url": self.target_url,
            "admit_per_minute": str(self.admit_per_minute),
            "max_active": str(self.max_active),
            "session_ttl": str(self.session_ttl),
            "state": self.state,
            "opens_at": "" if self.opens_at is None else repr(self.opens_at),
            "mode": self.mode,
            "standby_max_per_minute": str(self.standby_max_per_minute),
            "pow_difficulty": str(self.pow_difficulty),
            "on_redis_failure": self.on_redis_failure,
            "created_at": repr(self.created_at),
        }

    @classmethod
    def from_hash(cls, h: Mapping[str, str]) -> RoomConfig:
        opens = h.get("opens_at") or ""
        return cls(
            target_url=h.get("target_url", ""),
            admit_per_minute=int(h.get("admit_per_minute", "0")),
            max_active=int(h.get("max_active", "1")),
            session_ttl=int(h.get("session_ttl", "600")),
            state=h.get("state", "open"),
            opens_at=float(opens) if opens else None,
            mode=h.get("mode") or "fifo",
            standby_max_per_minute=int(h.get("standby_max_per_minute") or 600),
            pow_difficulty=int(h.get("pow_difficulty") or 0),
            on_redis_failure=h.get("on_redis_failure") or "fail_closed",
            created_at=float(h.get("created_at") or 0),
        )

    def public(self, room: str) -> dict[str, Any]:
        data = asdict(self)
        data["room"] = room
        data["opens_at_iso"] = (
            datetime.fromtimestamp(self.opens_at, UTC).isoformat() if self.opens_at else None
        )
        return data


def _int_field(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} must be a whole number.", field=name)
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}.", field=name)
    return value


def _moment_in_range(value: float) -> float:
    # Beyond year 9999 the time cannot be shown as a date (datetime overflows). A comparison
    # also refuses NaN and infinities, and (unlike math.isfinite) takes any integer.
    if not 0 <= value <= MAX_OPENS_AT:
        raise ValidationFailed("opens_at must be a time between 1970 and 9999.",
                               field="opens_at")
    return float(value)


def _opens_at(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _moment_in_range(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationFailed(
                "opens_at must be unix seconds or an ISO-8601 time.", field="opens_at"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return _moment_in_range(moment.timestamp())
        except OverflowError:
            raise ValidationFailed("opens_at must be a time between 1970 and 9999.",
                                   field="opens_at") from None
    raise ValidationFailed("opens_at must be unix seconds or an ISO-8601 time.", field="opens_at")


def _target_url(value: Any) -> str:
    """An http(s) URL of printable ASCII: it goes into a Location header as it is (fail-open
    redirects), where a control character cannot go and a CR LF would start a new header."""
    try:
        parts = urlsplit(value) if isinstance(value, str) and _PRINTABLE.match(value) else None
    except ValueError:  # "http://[::1" and the like
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(
            "target_url must be an http(s) URL in printable ASCII (percent-encode the rest).",
            field="target_url",
        )
    return value


def validate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Checked values of the given settings; 422 naming the first bad or unknown field."""
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise ValidationFailed(f"Unknown setting: {unknown[0]}.", field=unknown[0])
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name == "admit_per_minute":
            out[name] = _int_field(name, value, 0, MAX_ADMIT_PER_MINUTE)
        elif name == "max_active":
            out[name] = _int_field(name, value, 1, MAX_ACTIVE)
        elif name == "session_ttl":
            out[name] = _int_field(name, value, 1, MAX_SESSION_TTL_S)
        elif name == "target_url":
            out[name] = _target_url(value)
        elif name == "state":
            if value not in STATES:
                raise ValidationFailed("state must be open, paused or closed.", field=name)
            out[name] = value
        elif name == "mode":
            if value not in MODES:
                raise ValidationFailed(f"mode must be one of {', '.join(MODES)}.", field=name)
            out[name] = value
        elif name == "standby_max_per_minute":
            out[name] = _int_field(name, value, 0, MAX_ADMIT_PER_MINUTE)
        elif name == "pow_difficulty":
            out[name] = _int_field(name, value, 0, MAX_POW_DIFFICULTY)
        elif name == "on_redis_failure":
            if value not in REDIS_FAILURE_POLICIES:
                raise ValidationFailed("on_redis_failure must be fail_closed or fail_open.",
                                       field=name)
            out[name] = value
        else:
            out[name] = _opens_at(value)
    return out


async def put_room(
    redis: RedisClient, room: str, data: Mapping[str, Any]
) -> tuple[RoomConfig, bool]:
    """Create or replace a room's settings; the queue itself is kept. True when created."""
    values = validate(data)
    if "target_url" not in values:
        raise ValidationFailed("target_url is required.", field="target_url")
    k = keys.RoomKeys(room)
    old = await redis.hget(k.config, "created_at")
    config = RoomConfig(**values, created_at=float(old) if old else time.time())
    # Every field is written (an unset opens_at as ""), so one HSET replaces the whole config.
    await redis.hset(k.config, mapping=config.to_hash())
    await _register(redis, room)
    return config, old is None


async def patch_room(
    redis: RedisClient, scripts: Scripts, room: str, data: Mapping[str, Any]
) -> RoomConfig:
    values = validate(data)
    if not values:
        return await get_room(redis, room)
    current = await get_room(redis, room)
    merged = replace(current, **values)
    changed = {f: merged.to_hash()[f] for f in values}
    args = [x for pair in changed.items() for x in pair]
    if not await scripts.patch_room(keys=[keys.RoomKeys(room).config], args=args):
        raise RoomNotFound()
    return merged


async def get_room(redis: RedisClient, room: str) -> RoomConfig:
    raw = await redis.hgetall(keys.RoomKeys(room).config)
    if not raw:
        raise RoomNotFound()
    return RoomConfig.from_hash(raw)


async def delete_room(redis: RedisClient, room: str) -> None:
    k = keys.RoomKeys(room)
    if not await redis.exists(k.config):
        raise RoomNotFound()
    await redis.delete(*k.all())
    await redis.srem(keys.ROOMS, room)


async def list_rooms(redis: RedisClient) -> dict[str, RoomConfig]:
    names = sorted(await redis.smembers(keys.ROOMS))
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.RoomKeys(name).config)
        raws = await pipe.execute()
    return {name: RoomConfig.from_hash(raw) for name, raw in zip(names, raws, strict=True) if raw}


async def room_names(redis: RedisClient) -> list[str]:
    return sorted(await redis.smembers(keys.ROOMS))


async def stats(redis: RedisClient, room: str) -> dict[str, Any]:
    """Live figures of a room for the operator (admissions measured against the knob)."""
    k = keys.RoomKeys(room)
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(k.config)
        pipe.zcard(k.queue)
        pipe.get(k.serving)
        pipe.get(k.issued)
        pipe.zcount(k.active, f"({now}", "+inf")
        pipe.zcard(k.lapsed)
        pipe.zcard(k.prequeue)
        pipe.hget(k.bucket, "rate_pm")
        raw, queued, serving, issued, active, lapsed, pre, rate = await pipe.execute()
    if not raw:
        raise RoomNotFound()
    config = RoomConfig.from_hash(raw)
    return {
        "room": room,
        "state": config.state,
        "mode": config.mode,
        "queue_length": queued,
        "prequeue_length": pre,
        "serving": int(serving or 0),
        "issued": int(issued or 0),
        "active": active,
        "max_active": config.max_active,
        "lapsed": lapsed,
        "admitted_per_minute": round(float(rate), 2) if rate is not None else None,
        "admit_per_minute": config.admit_per_minute,
    }


async def _register(redis: RedisClient, room: str) -> None:
    await redis.sadd(keys.ROOMS, room)
    await ensure_epoch(redis)


async def ensure_epoch(redis: RedisClient) -> str:
    """The dataset's id, created when missing (see :data:`keys.EPOCH`)."""
    await redis.set(keys.EPOCH, secrets.token_hex(8), nx=True)
    return await redis.get(keys.EPOCH) or ""
