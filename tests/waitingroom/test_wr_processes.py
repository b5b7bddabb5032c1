"""Several real app processes sharing one Redis admit at the knob's rate, not a multiple."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from admission_log import admission_ticks, admitted_numbers_in_order, rate_per_minute
from aiohttp import ClientError, ClientSession
from conftest import ROOT
from redis.asyncio import Redis
from wr_support import TARGET_URL, join

from fairgate.embedded import Backends, free_port
from fairgate.tokens import Signer

PROCESSES = 3
TTL = 600
SECRET = "test-newest-key-0123456789abcdef"
ADMIN = "test-admin-token-0123456789abcdef"


@pytest.fixture
async def servers(backends: Backends, data_dir: Path) -> AsyncIterator[list[str]]:
    env = {
        **os.environ,
        "REDIS_URL": backends.redis_url or "",
        "DATA_DIR": str(data_dir),
        "SECRET_KEYS": SECRET,
        "ADMIN_TOKEN": ADMIN,
        "WR_DEBOUNCE_MS": "100",
        "WR_SNAPSHOT_MS": "100",
        "WR_HEARTBEAT_MS": "200",
        "WR_LAPSE_S": "3600",
    }
    procs, urls = [], []
    for _ in range(PROCESSES):
        port = free_port()
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waitingroom", "serve", "--host", "127.0.0.1",
            "--port", str(port), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        ))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        async with ClientSession() as session:
            for url in urls:
                deadline = time.monotonic() + 20
                while True:
                    with contextlib.suppress(ClientError):
                        async with session.get(url + "/healthz") as resp:
                            if resp.status == 200:
                                break
                    assert time.monotonic() < deadline, f"{url} did not start"
                    await asyncio.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            await proc.wait()


async def test_three_processes_admit_at_the_knobs_rate(
    servers: list[str], anon: ClientSession, room_name: str, redis_client: Redis,
) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with anon.put(f"{servers[0]}/admin/api/rooms/{room_name}", headers=headers, json={
        "target_url": TARGET_URL, "admit_per_minute": 0, "max_active": 10_000,
        "session_ttl": TTL,
    }) as resp:
        assert resp.status == 201
    answers = []
    for start in range(0, 300, 60):  # spread over the processes, in order
        answers += await asyncio.gather(*(
            join(anon, servers[i % PROCESSES], room_name) for i in range(start, start + 60)
        ))
    signer = Signer((SECRET,))
    number_of = {signer.load_ticket(a["ticket"]).visitor: a["number"] for a in answers}
    assert sorted(number_of.values()) == list(range(1, 301))

    seconds, micros = await redis_client.time()
    opened = seconds + micros / 1e6
    async with anon.patch(f"{servers[1]}/admin/api/rooms/{room_name}", headers=headers,
                          json={"admit_per_minute": 600}) as resp:
        assert resp.status == 200
    # Visitors poll all processes meanwhile, so polls trigger ticks everywhere too.
    deadline = time.monotonic() + 8.5
    i = 0
    while time.monotonic() < deadline:
        ticket = answers[-1 - i % 50]["ticket"]
        async with anon.get(f"{servers[i % PROCESSES]}/api/rooms/{room_name}/status",
                            headers={"X-Queue-Ticket": ticket}) as resp:
            assert resp.status == 200
        i += 1
        await asyncio.sleep(0.02)

    ticks = await admission_ticks(redis_client, room_name, TTL)
    rate = rate_per_minute(ticks, opened + 1.0, opened + 8.5)
    assert abs(rate - 600) / 600 <= 0.05, f"{PROCESSES} processes admitted {rate:.0f}/min"
    # At most one tick per debounce interval across all processes.
    times = [t for t, _ in ticks]
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.099
    per_tick = await admitted_numbers_in_order(redis_client, room_name, TTL, number_of)
    admitted = [n for tick in per_tick for n in tick]
    assert admitted == list(range(1, len(admitted) + 1))
