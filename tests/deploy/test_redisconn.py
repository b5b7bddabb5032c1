"""REDIS_URL parsing and the pooled single-server client, against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import MaxConnectionsError

from fairgate.config import Settings
from fairgate.embedded import EmbeddedRedis, free_port
from fairgate.redisconn import SCHEMES, is_cluster_url, make_redis, parse_redis_url
from fairgate.topology import RedisProcess


def test_single_server_urls_pass_through() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://user:pw@cache:6380/2",
                "unix:///run/redis.sock?db=1"):
        target = parse_redis_url(url)
        assert (target.mode, target.url) == ("single", url)
        assert not is_cluster_url(url)


def test_cluster_url() -> None:
    target = parse_redis_url("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002")
    assert target.mode == "cluster"
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert target.password == "s@cret" and target.username is None
    assert is_cluster_url("REDIS+CLUSTER://a:1")
    assert parse_redis_url("redis+cluster://a:1/0").nodes == (("a", 1),)


def test_sentinel_url() -> None:
    target = parse_redis_url("redis+sentinel://app:pw@s1:26380,s2/queue?db=3")
    assert target.mode == "sentinel"
    assert target.nodes == (("s1", 26380), ("s2", 26379))
    assert (target.service, target.db, target.username, target.password) == (
        "queue", 3, "app", "pw")
    assert parse_redis_url("redis+sentinel://s1/queue").db == 0
    assert "pw" not in repr(target)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:6379", "expected scheme://"),
        ("http://localhost", "scheme must be one of"),
        ("redis+cluster://a:1/3", "only database 0"),
        ("redis+cluster://a:1?read_from_replicas=1", "takes no options"),
        ("redis+cluster://a:1,,b:2", "empty host"),
        ("redis+cluster://a:notaport", "bad port"),
        ("redis+cluster://a:70000", "bad port"),
        ("redis+cluster://:7000", "missing host"),
        ("redis+cluster://[::1:7000", "bad IPv6"),
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel://s1:26379/", "service name"),
        ("redis+sentinel://s1/a/b", "service name"),
        ("redis+sentinel://s1/svc?db=x", "whole number"),
        ("redis+sentinel://s1/svc?dbb=1", "unknown redis+sentinel option"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL") as err:
        parse_redis_url(url)
    assert message in str(err.value)


def test_parser_accepts_every_scheme_the_settings_accept() -> None:
    for scheme in ("redis", "rediss", "unix", "redis+cluster", "redis+sentinel"):
        url = f"{scheme}://h:1/svc" if scheme == "redis+sentinel" else f"{scheme}://h:1"
        assert Settings.from_env({"REDIS_URL": url, "SECRET_KEYS": "k" * 16,
                                  "ADMIN_TOKEN": "t" * 16}).redis_url == url
        assert scheme in SCHEMES
        parse_redis_url(url)


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        make_redis("redis://127.0.0.1:1", pool_size=0)


@pytest.fixture(scope="module")
def single_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis.start(Path(tmp_path_factory.mktemp("single-redis")))
    yield server
    server.stop()


@pytest.fixture
async def pooled(single_redis: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = make_redis(single_redis.url, pool_size=2, timeout_s=5.0)
    assert isinstance(client, aioredis.Redis)
    yield client
    await client.aclose()


BURST = 60  # many more concurrent commands than pooled connections


async def _burst(client: aioredis.Redis, key: str) -> list[object]:
    # DEBUG SLEEP would block the server for everyone; a short BLPOP holds a connection instead.
    return await asyncio.gather(
        *(client.blpop([f"{key}:{i}"], timeout=0.05) for i in range(BURST)),
        return_exceptions=True,
    )


async def test_burst_waits_for_a_pooled_connection(pooled: aioredis.Redis) -> None:
    results = await _burst(pooled, "burst")
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert await pooled.set("answer", "42") and await pooled.get("answer") == "42"


async def test_control_default_pool_fails_the_same_burst(single_redis: EmbeddedRedis) -> None:
    client = aioredis.Redis.from_url(single_redis.url, max_connections=2)
    try:
        results = await _burst(client, "control")
    finally:
        await client.aclose()
    assert any(isinstance(r, MaxConnectionsError) for r in results)


async def test_unreachable_server_fails_fast() -> None:
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0", pool_size=2, timeout_s=0.5)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await asyncio.wait_for(client.ping(), timeout=10)
    finally:
        await client.aclose()


async def test_unix_socket_url(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    server = RedisProcess("unix-socket redis", tmp_path / "u", free_port(),
                          [f"unixsocket {sock}", "unixsocketperm 700"])
    server.start()
    try:
        server.wait_ready()
        client = make_redis(f"unix://{sock}?db=2", pool_size=2)
        try:
            assert await client.set("k", "v") and await client.get("k") == "v"
            assert (await client.client_info())["db"] == 2
        finally:
            await client.aclose()
    finally:
        server.stop()
