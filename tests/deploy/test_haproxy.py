"""Three waiting-room processes behind a real HAProxy: any process answers, nobody loses a place.

The config is deploy/haproxy.cfg with only the addresses rewritten (deploy_helpers.render_haproxy).
Visitors join and poll through the proxy; requests spread over all processes, yet every visitor
keeps the number it was given, numbers are unique, admission respects the room's cap across
processes, and a process killed mid-run costs no failed request.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, DummyCookieJar, TCPConnector
from deploy_helpers import (
    HAPROXY_TEMPLATE,
    SERVED_BY,
    Process,
    render_haproxy,
    spawn,
    wait_http_ok,
    waitingroom_cmd,
)

from fairgate.embedded import EmbeddedRedis, free_port

ADMIN_TOKEN = "deploy-test-admin-token-0123456789"
SECRET_KEYS = "deploy-test-secret-key-0123456789abcdef"
PROCESSES = 3
VISITORS = 60
MAX_ACTIVE = 5
BOUND_S = 20.0  # loop bound for waits, not a performance target


@dataclass
class Stack:
    base: str
    app_processes: list[Process]
    haproxy: Process
    config: Path


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    haproxy_bin = shutil.which("haproxy")
    if haproxy_bin is None:
        pytest.fail("Debian haproxy is not installed (apt-get install haproxy)")
    directory = Path(tempfile.mkdtemp(prefix="fairgate-haproxy-"))
    redis = EmbeddedRedis.start(directory / "data")
    env = {
        "REDIS_URL": redis.url,
        "DATA_DIR": str(directory / "data"),
        "SECRET_KEYS": SECRET_KEYS,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "WR_DEBOUNCE_MS": "100",
        "WR_SNAPSHOT_MS": "100",
        "WR_HEARTBEAT_MS": "200",
        "WR_LAPSE_S": "3600",
    }
    started: list[Process] = []
    try:
        for i in range(PROCESSES):
            port = free_port()
            started.append(spawn(f"wr{i}", waitingroom_cmd(port), port, directory, env))
        for proc in started:
            wait_http_ok(f"http://127.0.0.1:{proc.port}/healthz", proc.popen, proc.log)
        front, tk_front, stats = free_port(), free_port(), free_port()
        config = directory / "haproxy.cfg"
        config.write_text(render_haproxy(
            HAPROXY_TEMPLATE.read_text(),
            binds={"fe_waitingroom": front, "fe_ticketing": tk_front, "fe_stats": stats},
            servers={"be_waitingroom": [p.port for p in started]},
        ))
        check = subprocess.run([haproxy_bin, "-c", "-f", str(config)], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        haproxy = spawn("haproxy", [haproxy_bin, "-db", "-f", str(config)], front, directory)
        started.append(haproxy)
        base = f"http://127.0.0.1:{front}"
        wait_http_ok(f"{base}/healthz", haproxy.popen, haproxy.log)
        yield Stack(base, started[:PROCESSES], haproxy, config)
    finally:
        for proc in reversed(started):
            proc.stop()
        redis.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def anon() -> AsyncIterator[ClientSession]:
    """No cookie jar: each request carries only the ticket the test gives it."""
    async with ClientSession(cookie_jar=DummyCookieJar(),
                             connector=TCPConnector(limit=50)) as session:
        yield session


async def call(session: ClientSession, method: str, url: str, **kw: Any
               ) -> tuple[int, dict[str, Any], str]:
    async with session.request(method, url, **kw) as resp:
        return resp.status, await resp.json(), resp.headers.get(SERVED_BY, "")


async def test_visitors_keep_their_numbers_whichever_process_answers(
    stack: Stack, anon: ClientSession
) -> None:
    room = f"t{secrets.token_hex(5)}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status, _, _ = await call(anon, "PUT", f"{stack.base}/admin/api/rooms/{room}", headers=admin,
                              json={"target_url": "http://127.0.0.1:9/enter",
                                    "admit_per_minute": 0, "max_active": MAX_ACTIVE,
                                    "session_ttl": 600, "state": "open"})
    assert status in (200, 201)

    joins = await asyncio.gather(*(
        call(anon, "POST", f"{stack.base}/api/rooms/{room}/join") for _ in range(VISITORS)))
    assert all(s == 200 for s, _, _ in joins)
    tickets = {body["ticket"]: body["number"] for _, body, _ in joins}
    assert sorted(tickets.values()) == list(range(1, VISITORS + 1)), "numbers not unique 1..N"
    served = Counter(by for _, _, by in joins)
    assert len(served) == PROCESSES, f"joins did not reach every process: {served}"

    async def poll(ticket: str) -> tuple[int, dict[str, Any], str]:
        return await call(anon, "GET", f"{stack.base}/api/rooms/{room}/status",
                          headers={"X-Queue-Ticket": ticket})

    # Round robin hands out processes in turn. In the order of the tickets, with one request
    # more before each round, the 60 polls of a round (a multiple of the 3 processes) meet the
    # processes one place further on than in the round before; concurrent rounds left that to
    # the order the polls happened to arrive in, and half the tickets could keep one process.
    by_ticket: dict[str, set[str]] = {t: set() for t in tickets}
    for _ in range(3):
        async with anon.get(f"{stack.base}/healthz") as resp:
            assert resp.status == 200
        polls = [await poll(t) for t in tickets]
        for ticket, (code, body, by) in zip(tickets, polls, strict=True):
            assert code == 200, body
            assert body["number"] == tickets[ticket]
            assert body["state"] in ("waiting", "paused")  # knob at 0 pauses admission
            by_ticket[ticket].add(by)
    assert sum(len(s) > 1 for s in by_ticket.values()) > VISITORS // 2, (
        "most visitors should have been answered by more than one process")

    # Coming back with the ticket, through any process, gives the same number.
    again = await asyncio.gather(*(
        call(anon, "POST", f"{stack.base}/api/rooms/{room}/join",
             headers={"X-Queue-Ticket": t}) for t in tickets))
    assert [b["number"] for _, b, _ in again] == list(tickets.values())

    # Open the gate: processes admit together, yet never more than max_active, front first.
    status, _, _ = await call(anon, "PATCH", f"{stack.base}/admin/api/rooms/{room}",
                              headers=admin, json={"admit_per_minute": 6000})
    assert status == 200
    admitted: set[int] = set()
    deadline = asyncio.get_running_loop().time() + BOUND_S
    while len(admitted) < MAX_ACTIVE:
        assert asyncio.get_running_loop().time() < deadline, f"only {admitted} admitted"
        for code, body, _ in await asyncio.gather(*(poll(t) for t in tickets)):
            assert code == 200, body
            if body["state"] == "admitted":
                assert body["redirect_url"]
                admitted.add(body["number"])
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # several more admission ticks, on every process
    polls = await asyncio.gather(*(poll(t) for t in tickets))
    now_admitted = {b["number"] for _, b, _ in polls if b["state"] == "admitted"}
    assert now_admitted == set(range(1, MAX_ACTIVE + 1))


async def test_a_killed_process_costs_no_failed_request(
    stack: Stack, anon: ClientSession
) -> None:
    room = f"t{secrets.token_hex(5)}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status, _, _ = await call(anon, "PUT", f"{stack.base}/admin/api/rooms/{room}", headers=admin,
                              json={"target_url": "http://127.0.0.1:9/enter",
                                    "admit_per_minute": 0, "max_active": 10,
                                    "session_ttl": 600, "state": "open"})
    assert status in (200, 201)
    joins = await asyncio.gather(*(
        call(anon, "POST", f"{stack.base}/api/rooms/{room}/join") for _ in range(20)))
    tickets = {body["ticket"]: body["number"] for _, body, _ in joins}

    victim = stack.app_processes[0]
    victim.popen.kill()
    victim.popen.wait()
    served: Counter[str] = Counter()
    for _ in range(10):  # about 2 s of polling: long enough for the health checks to notice
        polls = await asyncio.gather(*(
            call(anon, "GET", f"{stack.base}/api/rooms/{room}/status",
                 headers={"X-Queue-Ticket": t}) for t in tickets))
        for ticket, (code, body, by) in zip(tickets, polls, strict=True):
            assert code == 200, body
            assert body["number"] == tickets[ticket]
            served[by] += 1
        await asyncio.sleep(0.2)
    assert "wr1" not in served and len(served) == PROCESSES - 1, served
