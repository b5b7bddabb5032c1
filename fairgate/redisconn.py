"""One way to build a Redis client, whatever the deployment (DESIGN section 6).

``REDIS_URL`` selects the topology; the code that uses the client does not change:

* ``redis://``, ``rediss://``, ``unix://``: one server. A blocking pool, so a burst of requests
  waits up to ``timeout_s`` for a free connection instead of failing with "Too many connections".
* ``redis+cluster://[user:pass@]host:port[,host:port...]``: Redis Cluster from startup nodes.
  Every room's keys share its ``{room}`` hash tag, so each Lua script runs on one slot.
* ``redis+sentinel://[user:pass@]host:port[,host:port...]/service[?db=N]``: the primary that the
  Sentinels name. Each new connection asks them, so after a failover the client follows the new
  primary; a ``READONLY`` answer from a demoted primary drops the connection and retries.

Every socket operation has a timeout and retries are few and short, so a dead server shows up as
an error within seconds (the apps answer 503) rather than as a hung request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

import hiredis  # installed by redis[hiredis]
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.asyncio.connection import AbstractConnection, BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, MaxConnectionsError, RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient = aioredis.Redis | aioredis.RedisCluster

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"
SINGLE_SCHEMES = ("redis", "rediss", "unix")
SCHEMES = (*SINGLE_SCHEMES, CLUSTER_SCHEME, SENTINEL_SCHEME)

DEFAULT_PORT = {CLUSTER_SCHEME: 6379, SENTINEL_SCHEME: 26379}

# Retries cover a dropped or refused connection (a restart, a failover, READONLY from a demoted
# primary, which redis-py turns into a connection error). Timeouts are not retried: the command
# may have run, and join/admission scripts are not idempotent.
RETRIES = 3
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.5
# Idle pooled connections are PINGed before reuse after this long, so a server that went away
# while the pool sat idle costs a reconnect, not a failed request.
HEALTH_CHECK_INTERVAL_S = 30
# Sentinel mode: how often a connection checkout confirms the primary with the sentinels (one
# SENTINEL MASTERS per interval per process), which bounds writes sent to a demoted primary.
PRIMARY_RECHECK_S = 1.0


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``REDIS_URL``: which topology, which nodes, which credentials."""

    mode: Literal["single", "cluster", "sentinel"]
    url: str = field(repr=False)  # may carry a password
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"REDIS_URL: expected scheme://..., got {url!r}")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"REDIS_URL: scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}"
        )
    return scheme


def is_cluster_url(url: str) -> bool:
    """True when the URL names a Redis Cluster (keys must then share one slot per script)."""
    return _scheme(url) == CLUSTER_SCHEME


def _host_port(item: str, default_port: int, url: str) -> tuple[str, int]:
    item = item.strip()
    if not item:
        raise ValueError(f"REDIS_URL: empty host in node list of {url!r}")
    if item.startswith("["):  # IPv6 literal: [::1]:7000
        host, sep, rest = item[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"REDIS_URL: bad IPv6 address {item!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = item.partition(":")
        if not host:
            raise ValueError(f"REDIS_URL: missing host in {item!r}")
    if not port_text:
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"REDIS_URL: bad port {port_text!r} for host {host!r}")
    return host, int(port_text)


def parse_redis_url(url: str) -> RedisTarget:
    """Split a ``REDIS_URL`` into a :class:`RedisTarget`; ValueError names what is wrong."""
    scheme = _scheme(url)
    if scheme in SINGLE_SCHEMES:
        return RedisTarget("single", url)

    rest = url.split("://", 1)[1]
    netloc, _, tail = rest.partition("/")
    path, _, query_text = tail.partition("?")
    if "?" in netloc:  # redis+cluster://h:1,h:2?x=1 (no path)
        netloc, _, query_text = netloc.partition("?")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_host_port(h, DEFAULT_PORT[scheme], url) for h in hosts.split(","))
    query = parse_qs(query_text, keep_blank_values=True)

    if scheme == CLUSTER_SCHEME:
        if path not in ("", "0"):
            raise ValueError(
                f"REDIS_URL: Redis Cluster has only database 0, got path /{path} in {url!r}"
            )
        if query:
            raise ValueError(
                f"REDIS_URL: redis+cluster takes no options, got {', '.join(sorted(query))}"
            )
        return RedisTarget("cluster", url, nodes, username=username, password=password)

    service = unquote(path.strip("/"))
    if not service or "/" in service:
        raise ValueError(
            "REDIS_URL: redis+sentinel needs the service name as the path, "
            f"as in redis+sentinel://host:26379/mymaster; got {url!r}"
        )
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise ValueError(f"REDIS_URL: unknown redis+sentinel option(s): {', '.join(unknown)}")
    db_text = query.get("db", ["0"])[-1]
    if not (db_text.isascii() and db_text.isdigit()):
        raise ValueError(f"REDIS_URL: db must be a whole number, got {db_text!r}")
    return RedisTarget(
        "sentinel", url, nodes, service=service, db=int(db_text),
        username=username, password=password,
    )


def _retry() -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S),
        RETRIES,
        supported_errors=(RedisConnectionError,),
    )


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel-resolved connections with the blocking pool's wait-for-a-free-connection.

    redis-py asks the sentinels only when it opens a connection, so after a planned failover
    (the old primary stays up for a while before it is demoted) pooled connections would go on
    writing to the old primary, and those writes are discarded when it resyncs. Here a checkout
    re-asks the sentinels at most every ``PRIMARY_RECHECK_S`` and drops a connection that points
    anywhere but the current primary.
    """

    _checked_at = float("-inf")

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        now = time.monotonic()
        if now - self._checked_at >= PRIMARY_RECHECK_S:
            self._checked_at = now  # before the await: concurrent checkouts do not all ask
            # Sentinels unreachable or mid-election: keep the connections we have.
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
                await self.get_master_address()  # drops idle connections if the primary moved
        address = (connection.host, connection.port)  # type: ignore[attr-defined]
        if connection.is_connected and self.master_address not in (None, address):
            await connection.disconnect()
        await super().ensure_connection(connection)


class _SentinelRedis(aioredis.Redis):
    """Closing the client also closes its connections to the sentinels themselves."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


_HOLDING_TURN: ContextVar[bool] = ContextVar("fairgate_redis_turn", default=False)


class _BoundedRedisCluster(aioredis.RedisCluster):
    """A cluster client that waits for a free connection instead of raising.

    redis-py's asyncio cluster raises MaxConnectionsError as soon as a node's pool is full; under a
    burst of polls that would turn into 500s. Capping in-flight commands and pipelines at
    ``pool_size`` (a pipeline takes at most one connection per node) keeps every node's pool
    within bounds, and a caller waits up to ``wait_s`` for its turn.
    """

    def __init__(self, *, pool_size: int, wait_s: float, **kwargs: Any) -> None:
        super().__init__(max_connections=pool_size, **kwargs)
        self._in_flight = asyncio.Semaphore(pool_size)
        self._pool_size = pool_size
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        # A pipeline re-sends redirected commands (MOVED during resharding) one by one from
        # inside its own turn; those must not wait for a second turn.
        if _HOLDING_TURN.get():
            yield
            return
        try:
            async with asyncio.timeout(self._wait_s):
                await self._in_flight.acquire()
        except TimeoutError:
            raise MaxConnectionsError(
                f"all {self._pool_size} Redis connections busy for {self._wait_s}s"
            ) from None
        token = _HOLDING_TURN.set(True)
        try:
            yield
        finally:
            _HOLDING_TURN.reset(token)
            self._in_flight.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None
                 ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _BoundedClusterPipeline(self, transaction)


class _BoundedClusterPipeline(ClusterPipeline):
    """A pipeline of :class:`_BoundedRedisCluster` takes its turn like a single command."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True
                      ) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, _BoundedRedisCluster)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)


class _HiredisPacking:
    """Commands packed by hiredis's C packer, as redis-py's synchronous client does; its asyncio
    client packs them in Python, which was a tenth of a join's CPU (a join script names 13
    keys). Same bytes on the wire; an argument hiredis cannot pack is a DataError, as before."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "CONFIG GET" and the like: one argument per word
            args = (*args[0].encode().split(), *args[1:])
        return [pack(args)]

    def pack_commands(self, commands: Any) -> list[bytes]:
        return [b"".join(self.pack_command(*cmd)[0] for cmd in commands)]


def pack(command: tuple[Any, ...]) -> bytes:
    """One command, its name a single word, in Redis's protocol (hiredis's C packer); an
    argument hiredis cannot pack is a DataError, as redis-py's own packer raises."""
    try:
        return hiredis.pack_command(command)
    except TypeError as exc:
        raise DataError(str(exc)) from exc


_PACKED_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _with_hiredis_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """``cls`` with :class:`_HiredisPacking`."""
    packed = _PACKED_CLASSES.get(cls)
    if packed is None:
        packed = _PACKED_CLASSES[cls] = type(f"Packed{cls.__name__}", (_HiredisPacking, cls), {})
    return packed


def make_redis(url: str, *, pool_size: int, timeout_s: float = 2.0) -> RedisClient:
    """The asyncio Redis client for ``url`` (responses decoded to str).

    ``pool_size`` bounds the connections per server (``REDIS_POOL_SIZE``); ``timeout_s`` bounds
    connecting, each reply, and the wait for a free pooled connection. No I/O happens here: the
    first command connects, so this is safe to call while an app is being wired.
    """
    if pool_size < 1:
        raise ValueError(f"pool_size must be at least 1, got {pool_size}")
    target = parse_redis_url(url)
    common: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
    if target.mode == "single":
        pool = BlockingConnectionPool.from_url(
            url, max_connections=pool_size, timeout=timeout_s, retry=_retry(), **common
        )
        pool.connection_class = _with_hiredis_packing(pool.connection_class)
        return aioredis.Redis.from_pool(pool)

    credentials = {"username": target.username, "password": target.password}
    if target.mode == "cluster":
        return _BoundedRedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            pool_size=pool_size,
            wait_s=timeout_s,
            retry=_retry(),
            **credentials,
            **common,
        )

    sentinel = Sentinel(
        list(target.nodes),
        sentinel_kwargs={"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s},
    )
    primary = sentinel.master_for(
        target.service,
        redis_class=_SentinelRedis,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=pool_size,
        timeout=timeout_s,
        db=target.db,
        retry=_retry(),
        **credentials,
        **common,
    )
    pool = primary.connection_pool
    pool.connection_class = _with_hiredis_packing(pool.connection_class)
    return primary
