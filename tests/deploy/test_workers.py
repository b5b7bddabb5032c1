"""``waitingroom serve --workers 3``: three processes on one port (SO_REUSEPORT), one Redis.

Connections spread over the workers; the admission rate is the room's knob, not three times it
(the token bucket and the debounce lock live in Redis); ``/metrics`` of any worker counts every
worker's requests; a killed worker is replaced; SIGTERM stops everything with status 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientSession, DummyCookieJar, TCPConnector
from deploy_helpers import ROOT, Process, spawn, wait_http_ok

from fairgate import tally
from fairgate.embedded import Backends, free_port
from fairgate.supervisor import EARLY_EXIT_S
from waitingroom.keys import RoomKeys

ADMIN = {"Authorization": "Bearer deploy-test-admin-token-0123456789"}
WORKERS = 3
PER_MINUTE = 1200  # 20 visitors a second
WINDOW_S = 3.0
BOUND_S = 20.0  # loop bound for waits, not a performance target


def workers_cmd(port: int, workers: int = WORKERS) -> list[str]:
    return [sys.executable, "-m", "waitingroom", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers)]


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


@dataclass
class Served:
    proc: Process
    base: str
    started: float
    redis_url: str


def wait_every_worker(url: str, proc: Process) -> None:
    """The first answer comes from the quickest worker; wait until each one has answered."""
    deadline = time.monotonic() + BOUND_S
    seen: set[int] = set()
    while len(children(proc.popen.pid)) < WORKERS or seen != children(proc.popen.pid):
        assert time.monotonic() < deadline, (seen, proc.log.read_text()[-2000:])
        with urllib.request.urlopen(url, timeout=2) as resp:  # a new connection each time
            seen.add(int(json.loads(resp.read())["pid"]))


@pytest.fixture(scope="module")
def served(backends: Backends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = Path(tmp_path_factory.mktemp("workers"))
    port = free_port()
    env = {"REDIS_URL": backends.redis_url or "", "DATA_DIR": str(directory),
           "SECRET_KEYS": "deploy-test-secret-key-0123456789abcdef",
           "ADMIN_TOKEN": ADMIN["Authorization"].split()[1],
           "WR_DEBOUNCE_MS": "100", "WR_SNAPSHOT_MS": "100", "WR_HEARTBEAT_MS": "200",
           "WR_LAPSE_S": "3600"}
    proc = spawn("workers", workers_cmd(port), port, directory,
                 {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics")})
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc.popen, proc.log)
        wait_every_worker(f"http://127.0.0.1:{port}/healthz", proc)
        yield Served(proc, f"http://127.0.0.1:{port}", time.monotonic(), backends.redis_url or "")
    finally:
        proc.stop()


@pytest.fixture
async def fresh() -> AsyncIterator[ClientSession]:
    """A new connection per request, so the kernel picks a worker for each one."""
    async with ClientSession(cookie_jar=DummyCookieJar(),
                             connector=TCPConnector(force_close=True, limit=20)) as session:
        yield session


async def pids_answering(session: ClientSession, base: str, n: int) -> list[int]:
    async def one() -> int:
        async with session.get(f"{base}/healthz") as resp:
            assert resp.status == 200
            return int((await resp.json())["pid"])

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_requests_are_served_by_every_worker(served: Served, fresh: ClientSession) -> None:
    workers = children(served.proc.popen.pid)
    assert len(workers) == WORKERS
    # 3 * (2/3)**45: about one run in 25 million misses a worker by chance.
    assert set(await pids_answering(fresh, served.base, 45)) == workers


async def healthz_count(session: ClientSession, base: str) -> float:
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    match = re.search(
        r'^fairgate_http_request_duration_seconds_count\{(?=[^}]*app="waitingroom")'
        r'(?=[^}]*route="healthz")(?=[^}]*status="2xx")[^}]*\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_the_requests_of_every_worker(
    served: Served, fresh: ClientSession
) -> None:
    await asyncio.sleep(tally.FLUSH_INTERVAL_S * 2)  # earlier health checks are counted
    before = await healthz_count(fresh, served.base)
    pids = await pids_answering(fresh, served.base, 60)
    assert len(set(pids)) > 1
    # Each worker hands its counts over within a second (fairgate.tally); then, scraped several
    # times, whichever worker answers reports the sum over all of them.
    await asyncio.sleep(tally.FLUSH_INTERVAL_S * 2)
    counts = {await healthz_count(fresh, served.base) for _ in range(6)}
    assert counts == {before + 60}


async def serving_at(redis: aioredis.Redis, room: str) -> tuple[float, int]:
    """Redis's clock and the room's "now serving", read atomically."""
    async with redis.pipeline(transaction=True) as pipe:
        (secs, micros), serving = await pipe.time().get(RoomKeys(room).serving).execute()
    return secs + micros / 1e6, int(serving or 0)


async def test_admission_rate_is_the_knob_not_knob_times_workers(
    served: Served, fresh: ClientSession
) -> None:
    room = f"t{secrets.token_hex(5)}"
    async with fresh.put(f"{served.base}/admin/api/rooms/{room}", headers=ADMIN,
                         json={"target_url": "http://127.0.0.1:9/enter", "admit_per_minute": 0,
                               "max_active": 10000, "session_ttl": 600,
                               "state": "open"}) as resp:
        assert resp.status in (200, 201), await resp.text()

    async def join() -> None:
        async with fresh.post(f"{served.base}/api/rooms/{room}/join") as resp:
            assert resp.status == 200, await resp.text()

    await asyncio.gather(*(join() for _ in range(150)))
    async with fresh.patch(f"{served.base}/admin/api/rooms/{room}", headers=ADMIN,
                           json={"admit_per_minute": PER_MINUTE}) as resp:
        assert resp.status == 200, await resp.text()

    redis = aioredis.Redis.from_url(served.redis_url)
    try:
        deadline = time.monotonic() + BOUND_S
        start = await serving_at(redis, room)
        while start[1] == 0:  # every worker's timer ticks the room once it sees it
            assert time.monotonic() < deadline, "nobody was admitted"
            await asyncio.sleep(0.05)
            start = await serving_at(redis, room)
        await asyncio.sleep(WINDOW_S)
        end = await serving_at(redis, room)
    finally:
        await redis.aclose()
    admitted = end[1] - start[1]
    expected = PER_MINUTE / 60 * (end[0] - start[0])
    # Credit accrues with Redis's clock whoever ticks, so the count tracks the knob closely;
    # three private buckets would admit about three times as many.
    assert 0.75 * expected - 2 <= admitted <= 1.25 * expected + 2, (admitted, expected)


async def test_a_killed_worker_is_replaced(served: Served, fresh: ClientSession) -> None:
    # Dying right after a start reads as a crash loop; this worker has been up for a while.
    await asyncio.sleep(max(0.0, served.started + EARLY_EXIT_S + 0.5 - time.monotonic()))
    before = children(served.proc.popen.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + BOUND_S
    while True:
        now = children(served.proc.popen.pid)
        if len(now) == WORKERS and victim not in now:
            break
        assert served.proc.popen.poll() is None, served.proc.log.read_text()[-2000:]
        assert time.monotonic() < deadline, now
        await asyncio.sleep(0.1)
    await asyncio.to_thread(wait_http_ok, f"{served.base}/healthz", served.proc.popen,
                            served.proc.log)
    assert f"worker {victim} killed by SIGKILL" in served.proc.log.read_text()
    assert victim not in await pids_answering(fresh, served.base, 20)


def test_sigterm_stops_every_worker_and_exits_zero(served: Served) -> None:
    workers = children(served.proc.popen.pid)
    metrics_dirs = list((Path(served.proc.log.parent) / "metrics").iterdir())
    assert len(metrics_dirs) == 1 and list(metrics_dirs[0].glob("*.db"))
    served.proc.popen.send_signal(signal.SIGTERM)
    assert served.proc.popen.wait(30) == 0, served.proc.log.read_text()[-2000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert not metrics_dirs[0].exists()


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: nobody can share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = spawn("taken", workers_cmd(port, 2), port, tmp_path,
                     {"REDIS_URL": "redis://127.0.0.1:9/0", "DATA_DIR": str(tmp_path)})
        try:
            code = proc.popen.wait(30)
        finally:
            proc.stop()
    log = proc.log.read_text()
    assert code == 1, log[-2000:]
    assert "cannot listen" in log and "giving up" in log, log[-2000:]


@pytest.mark.parametrize("app", ["waitingroom", "ticketing"])
def test_port_zero_is_any_free_port_so_workers_refuse_it(app: str, tmp_path: Path) -> None:
    """``--port 0`` asks for any free port, which every worker would pick for itself: refused
    in one line, whatever port the environment names."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:9/0",
           "DATABASE_URL": "postgresql://127.0.0.1:9/x", "WAITINGROOM_PORT": "8080",
           "TICKETING_PORT": "8081"}
    done = subprocess.run(
        [sys.executable, "-m", app, "serve", "--host", "127.0.0.1", "--port", "0",
         "--workers", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--workers needs a fixed port" in done.stderr


async def test_gunicorn_workers_report_one_sum(
    backends: Backends, tmp_path: Path, fresh: ClientSession
) -> None:
    """deploy/gunicorn.conf.py turns on the same multiprocess mode for gunicorn's workers."""
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "fairgate.gunicorn:waitingroom_app",
           "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    proc = spawn("gunicorn-metrics", cmd, port, tmp_path,
                 {"REDIS_URL": backends.redis_url or "", "DATA_DIR": str(tmp_path),
                  "SECRET_KEYS": "deploy-test-secret-key-0123456789abcdef",
                  "ADMIN_TOKEN": ADMIN["Authorization"].split()[1]})
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_http_ok, f"{base}/healthz", proc.popen, proc.log)
        # The workers share one accepting socket: wait until both have answered something, so
        # neither holds every count.
        seen: set[int] = set()
        deadline = time.monotonic() + BOUND_S
        while len(seen) < 2:
            assert time.monotonic() < deadline, seen
            seen.update(await pids_answering(fresh, base, 20))
        await asyncio.sleep(tally.FLUSH_INTERVAL_S * 2)  # each worker flushes its counts
        before = await healthz_count(fresh, base)
        await pids_answering(fresh, base, 60)
        await asyncio.sleep(tally.FLUSH_INTERVAL_S * 2)
        counts = {await healthz_count(fresh, base) for _ in range(6)}
        assert counts == {before + 60}
    finally:
        proc.stop()
