"""Both apps under real gunicorn with aiohttp's worker and deploy/gunicorn.conf.py."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, DummyCookieJar
from deploy_helpers import ROOT, Process, spawn, wait_http_ok

from fairgate.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from fairgate.gunicorn import WORKER_BOOT_ERROR

ADMIN_TOKEN = "deploy-test-admin-token-0123456789"
SECRET_KEYS = "deploy-test-secret-key-0123456789abcdef"
CONFIG = str(ROOT / "deploy" / "gunicorn.conf.py")
WORKERS = 2


def gunicorn_cmd(factory: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", f"fairgate.gunicorn:{factory}", "-c", CONFIG,
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]


def base_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    return {**env, "DATA_DIR": str(directory), "SECRET_KEYS": SECRET_KEYS,
            "ADMIN_TOKEN": ADMIN_TOKEN, "WR_DEBOUNCE_MS": "100", "WR_SNAPSHOT_MS": "100"}


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("gunicorn"))


@pytest.fixture(scope="module")
def waitingroom(directory: Path) -> Iterator[Process]:
    redis = EmbeddedRedis.start(directory / "data")
    port = free_port()
    proc = spawn("gunicorn-wr", gunicorn_cmd("waitingroom_app", port), port, directory,
                 {**base_env(directory), "REDIS_URL": redis.url})
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc.popen, proc.log)
        yield proc
    finally:
        proc.stop()
        redis.stop()


async def test_waitingroom_under_gunicorn_hands_out_unique_numbers(waitingroom: Process) -> None:
    base = f"http://127.0.0.1:{waitingroom.port}"
    room = f"t{secrets.token_hex(5)}"
    async with ClientSession(cookie_jar=DummyCookieJar()) as session:
        async with session.put(f"{base}/admin/api/rooms/{room}",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                               json={"target_url": "http://127.0.0.1:9/enter",
                                     "admit_per_minute": 0}) as resp:
            assert resp.status in (200, 201), await resp.text()

        async def join() -> int:
            async with session.post(f"{base}/api/rooms/{room}/join") as resp:
                assert resp.status == 200, await resp.text()
                return (await resp.json())["number"]

        numbers = await asyncio.gather(*(join() for _ in range(40)))
    assert sorted(numbers) == list(range(1, 41))


def test_gunicorn_runs_the_configured_worker_count(waitingroom: Process) -> None:
    children = Path(f"/proc/{waitingroom.popen.pid}/task/{waitingroom.popen.pid}/children")
    assert len(children.read_text().split()) == WORKERS


def test_sigterm_stops_gunicorn_cleanly(directory: Path) -> None:
    redis = EmbeddedRedis.start(directory / "data")
    port = free_port()
    proc = spawn("gunicorn-term", gunicorn_cmd("waitingroom_app", port), port, directory,
                 {**base_env(directory), "REDIS_URL": redis.url})
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc.popen, proc.log)
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(30) == 0, proc.log.read_text()[-2000:]
    finally:
        proc.stop()
        redis.stop()


async def test_ticketing_under_gunicorn_serves_events(directory: Path) -> None:
    postgres = await asyncio.to_thread(EmbeddedPostgres.start, directory / "pgdata")
    port = free_port()
    proc = spawn("gunicorn-tk", gunicorn_cmd("ticketing_app", port), port, directory,
                 {**base_env(directory), "DATABASE_URL": postgres.url})
    try:
        await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/healthz", proc.popen,
                                proc.log)
        async with ClientSession() as session, \
                session.get(f"http://127.0.0.1:{port}/api/events") as resp:
            assert resp.status == 200, await resp.text()
    finally:
        proc.stop()
        postgres.stop()


@pytest.mark.parametrize(("factory", "variable"),
                         [("waitingroom_app", "REDIS_URL"), ("ticketing_app", "DATABASE_URL")])
def test_missing_shared_server_url_stops_gunicorn_with_one_line(
    directory: Path, factory: str, variable: str
) -> None:
    done = subprocess.run(gunicorn_cmd(factory, free_port()), cwd=ROOT, env=base_env(directory),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == WORKER_BOOT_ERROR, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if f"{variable} is required" in line]
    assert lines and "Traceback" not in done.stderr, done.stderr[-2000:]
