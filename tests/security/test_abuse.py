"""Abuse: per-client request limits, size limits, and slow clients that must not starve others."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis
from sec_helpers import make_event, make_room, with_extra

from fairgate.config import ConfigError, Settings
from fairgate.guard import AddressSet, GuardConfig, TokenBucket, parse_addresses
from fairgate.tokens import Signer


async def _issued(redis_client: Redis, room: str) -> int:
    from waitingroom import keys

    return int(await redis_client.get(keys.RoomKeys(room).issued) or 0)


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(per_min=6)  # one every 10 s, bursts of 6
    assert [bucket.take("a", now=0.0) for _ in range(6)] == [0.0] * 6
    assert bucket.take("a", now=0.0) == 10.0
    assert bucket.take("b", now=0.0) == 0.0  # another client has its own bucket
    assert bucket.take("a", now=5.0) == 5.0
    assert bucket.take("a", now=10.0) == 0.0


def test_the_bucket_table_stays_bounded(monkeypatch) -> None:
    from fairgate import guard

    monkeypatch.setattr(guard, "MAX_CLIENTS", 100)
    bucket = TokenBucket(per_min=6)
    for i in range(1000):
        bucket.take(f"10.0.{i // 256}.{i % 256}", now=float(i % 30))
        assert len(bucket._clients) <= 100


def test_address_lists_take_addresses_and_networks(monkeypatch) -> None:
    listed = parse_addresses(" 10.0.0.7, 192.168.0.0/16 ,fd00::/8,::1")
    assert isinstance(listed, AddressSet)
    for inside in ("10.0.0.7", "192.168.4.20", "fd12::1", "::1", "::ffff:192.168.1.1"):
        assert inside in listed, inside
    for outside in ("10.0.0.8", "192.169.0.1", "fe80::1", "", "unknown", "10.0.0.7 ",
                    "::ffff:10.0.0.8"):
        assert outside not in listed, outside
    assert listed and not parse_addresses("") and "127.0.0.1" not in parse_addresses(" , ")
    # Exact addresses alone: a plain frozenset (the cheapest look-up), IPv4 also as IPv6.
    exact = parse_addresses("127.0.0.1,::1")
    assert isinstance(exact, frozenset)
    assert {"127.0.0.1", "::ffff:127.0.0.1", "::1"} <= exact and "127.0.0.2" not in exact
    # The remembered answers stay bounded however many addresses come by.
    monkeypatch.setattr(AddressSet, "MAX_REMEMBERED", 50)
    for i in range(500):
        assert (f"192.168.1.{i % 256}" in listed) and f"172.16.0.{i % 256}" not in listed
        assert len(listed._seen) <= 50


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.internal", "10.0.0.0/33", "1.2.3.4 5"])
def test_a_bad_address_list_is_a_one_line_error(settings: Settings, value: str) -> None:
    with pytest.raises(ConfigError, match="WR_TRUSTED_PROXIES: expected comma-separated IP"):
        GuardConfig.for_app("waitingroom", with_extra(settings, WR_TRUSTED_PROXIES=value))


async def test_one_client_cannot_take_many_tickets(
    start_wr, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr(WR_LIMIT_EXEMPT="", WR_JOIN_PER_MIN="4")
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    answers = []
    for _ in range(6):
        resp = await client.post(f"/api/rooms/{room_name}/join", cookies={})
        client.session.cookie_jar.clear()
        answers.append((resp.status, resp.headers.get("Retry-After"), await resp.json()))
    assert [a[0] for a in answers] == [200] * 4 + [429] * 2
    _, retry_after, body = answers[-1]
    assert body["error"] == "too_many_requests" and int(retry_after) >= 1
    assert await _issued(redis_client, room_name) == 4  # refused joins took no number
    # The queue page joins too, so it shares the allowance.
    resp = await client.get(f"/r/{room_name}")
    assert resp.status == 429


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    start_wr, admin_headers, room_name
) -> None:
    direct = await start_wr(WR_LIMIT_EXEMPT="", WR_JOIN_PER_MIN="2")
    proxied = await start_wr(WR_LIMIT_EXEMPT="", WR_JOIN_PER_MIN="2",
                             WR_TRUSTED_PROXIES="127.0.0.1")
    await make_room(direct, room_name, admin_headers, admit_per_minute=0)

    async def statuses(client, forwarded: list[str]) -> list[int]:
        out = []
        for addr in forwarded:
            resp = await client.post(f"/api/rooms/{room_name}/join", cookies={},
                                     headers={"X-Forwarded-For": f"{addr}, 127.0.0.1"})
            client.session.cookie_jar.clear()
            out.append(resp.status)
        return out

    # Spoofed headers from an untrusted peer change nothing: one address, one allowance.
    assert await statuses(direct, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
        200, 200, 429]
    # Behind the trusted proxy each visitor has an allowance of their own.
    assert await statuses(proxied, ["203.0.113.1", "203.0.113.2", "203.0.113.1",
                                    "203.0.113.1"]) == [200, 200, 200, 429]


async def test_status_and_hold_limits_and_loopback_default(
    start_wr, start_tk, settings, admin_headers, room_name
) -> None:
    strict = await start_wr(WR_LIMIT_EXEMPT="", WR_STATUS_PER_MIN="3")
    await make_room(strict, room_name, admin_headers, admit_per_minute=0)
    ticket = (await (await strict.post(f"/api/rooms/{room_name}/join")).json())["ticket"]
    codes = []
    for _ in range(5):
        resp = await strict.get(f"/api/rooms/{room_name}/status",
                                headers={"X-Queue-Ticket": ticket})
        codes.append(resp.status)
    assert codes == [200, 200, 200, 429, 429]

    # Guessing the admin token at the dashboard's sign-in is limited too.
    guarded = await start_wr(WR_LIMIT_EXEMPT="", WR_LOGIN_PER_MIN="2")
    codes = []
    for _ in range(3):
        resp = await guarded.post("/admin/login", data={"token": "wrong"},
                                  allow_redirects=False)
        codes.append(resp.status)
    assert codes[:2] != [429, 429] and codes[2] == 429, codes

    # Default settings: loopback (local load tests, a proxy on this machine) is never limited.
    default = await start_wr()
    for _ in range(70):
        resp = await default.post(f"/api/rooms/{room_name}/join", cookies={})
        default.session.cookie_jar.clear()
        assert resp.status == 200

    tk = await start_tk(TK_LIMIT_EXEMPT="", TK_HOLD_PER_MIN="2")
    event_id = await make_event(tk, room_name, admin_headers)
    token = Signer(settings.secret_keys).admission(room_name, "v" * 32, 1, time.time() + 300)
    session = (await (await tk.post("/api/session", json={"token": token})).json())["session"]
    bearer = {"Authorization": f"Bearer {session}"}
    codes = []
    for _ in range(3):
        resp = await tk.post(f"/api/events/{event_id}/holds", json={"seat_ids": [1]},
                             headers=bearer)
        codes.append(resp.status)
    assert codes[:2] != [429, 429] and codes[2] == 429


async def test_huge_bodies_and_headers_are_refused_cleanly(
    start_wr, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    resp = await client.post(f"/api/rooms/{room_name}/join", data=b"{" + b" " * 200_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413 and (await resp.json())["error"] == "body_too_large"
    resp = await client.get(f"/api/rooms/{room_name}/status",
                            headers={"X-Queue-Ticket": "x" * 20_000})
    assert 400 <= resp.status < 500
    resp = await client.get("/healthz", headers={f"X-Pad-{i}": "x" for i in range(200)})
    assert 400 <= resp.status < 500
    assert await _issued(redis_client, room_name) == 0


async def _slow_client(host: str, port: int, stop: asyncio.Event) -> None:
    """Sends a request's headers one line at a time, never finishing them."""
    _, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        i = 0
        while not stop.is_set():
            writer.write(f"X-Slow-{i}: y\r\n".encode())
            await writer.drain()
            i += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.2)
            except TimeoutError:
                pass
    except (ConnectionError, OSError):
        pass  # the server may drop a client that sends too many headers
    finally:
        writer.close()


async def test_slow_clients_do_not_starve_others(start_wr, admin_headers, room_name) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    host, port = client.server.host, client.server.port
    stop = asyncio.Event()
    slow = [asyncio.create_task(_slow_client(host, port, stop)) for _ in range(200)]
    try:
        await asyncio.sleep(1.0)  # every slow connection is open and trickling
        for _ in range(5):
            resp = await asyncio.wait_for(
                client.post(f"/api/rooms/{room_name}/join", cookies={}), 10)
            client.session.cookie_jar.clear()
            assert resp.status == 200
        assert sum(not t.done() for t in slow) > 150  # they were still connected
    finally:
        stop.set()
        await asyncio.gather(*slow)
