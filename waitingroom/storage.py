"""Redis connection pool and the room's Lua scripts.

Scripts live in ``scripts/*.lua``, are read once at start-up and called by SHA through redis-py
``Script`` objects (which reload them by themselves after a Redis restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fairgate.redisconn import RedisClient, make_redis

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"

# Redis errors that mean "unreachable or too slow right now": answered with 503, never 500.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
# Every error the client raises, for background loops that must outlive any one of them.
REDIS_FAULTS = (RedisError, RedisClusterException)

# A poll must never hang on Redis: connecting, each reply and the wait for a free pooled
# connection each give up after this many seconds.
TIMEOUT_S = 1.5


def connect(url: str, pool_size: int) -> RedisClient:
    """A client for ``REDIS_URL`` (one server, Cluster or Sentinel) over a bounded pool."""
    return make_redis(url, pool_size=pool_size, timeout_s=TIMEOUT_S)


def _source(name: str, common: bool) -> str:
    text = (SCRIPTS_DIR / f"{name}.lua").read_text()
    if common:
        text = (SCRIPTS_DIR / "_common.lua").read_text() + "\n" + text
    return text


@dataclass(frozen=True)
class Scripts:
    """The room's Lua scripts, registered on one client."""

    join: AsyncScript
    admit: AsyncScript
    heartbeat: AsyncScript
    leave: AsyncScript
    restore_room: AsyncScript
    patch_room: AsyncScript

    @classmethod
    def load(cls, client: RedisClient) -> Scripts:
        return cls(
            join=client.register_script(_source("join", common=True)),
            admit=client.register_script(_source("admit", common=True)),
            heartbeat=client.register_script(_source("heartbeat", common=True)),
            leave=client.register_script(_source("leave", common=False)),
            restore_room=client.register_script(_source("restore_room", common=False)),
            patch_room=client.register_script(_source("patch_room", common=False)),
        )
