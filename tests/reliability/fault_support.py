"""Real servers and app processes the fault tests can kill, wipe, pause and restart.

Every test owns its servers: a Redis (``fairgate.embedded.EmbeddedRedis``, append-only file
on) or a PostgreSQL (from the pgserver wheel) in its own directory, and app processes started
as an operator starts them (``python -m waitingroom serve``). Clients record every request's
outcome, so a test can count what happened during a fault instead of sampling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parents[2]
SECRET = "reliability-key-0123456789abcdef"
ADMIN = "reliability-admin-token-0123456789"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
# A request without an answer after this long counts as hung. It bounds hanging (every Redis
# and PostgreSQL call has its own, much shorter timeout); it is not a speed target.
REQUEST_BOUND_S = 10.0
START_TIMEOUT_S = 30.0
# Test-sized intervals: admission ticks, snapshots, heartbeats and sweeps within a second.
WR_ENV = {"WR_DEBOUNCE_MS": "100", "WR_SNAPSHOT_MS": "100", "WR_HEARTBEAT_MS": "200",
          "WR_LAPSE_S": "3600"}
TK_ENV = {"TK_SWEEP_INTERVAL_S": "0.2", "TK_ACQUIRE_TIMEOUT_S": "2",
          "TK_WAITINGROOM_TIMEOUT_S": "1", "TK_STREAM_COALESCE_MS": "200"}


@dataclass
class AppProcess:
    """``python -m <module> serve`` on a fixed loopback port, restartable on the same port."""

    module: str
    port: int
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1",
               "--port", str(self.port)]
        with open(self.log, "ab") as fh:
            self.popen = subprocess.Popen(
                cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=fh,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    async def ready(self) -> None:
        """Wait until /healthz answers 200 (the process has wired its resources)."""
        assert self.popen is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession() as http:
            while True:
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.module} exited early; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.url + "/healthz",
                                        timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.module} did not start; see {self.log}")
                await asyncio.sleep(0.05)

    async def start(self) -> None:
        self.spawn()
        await self.ready()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests are cut."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid


class PrivatePostgres:
    """A PostgreSQL of one test, from the pgserver wheel's binaries, that can crash.

    pgserver starts it the first time; a restart after :meth:`kill` runs ``pg_ctl start`` on the
    same data directory and socket, so the URL stays the same and crash recovery replays the WAL.
    """

    def __init__(self, directory: Path) -> None:
        import pgserver

        self.directory = directory.resolve()
        server = pgserver.get_server(self.directory, cleanup_mode=None)
        self.url: str = server.get_uri()
        self.socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]
        self._user = "pgserver" if os.geteuid() == 0 else None  # postgres refuses to run as root

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.directory, user=self._user, timeout=30)

    @property
    def pid(self) -> int:
        return int((self.directory / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """The whole server dies at once (SIGKILL to the postmaster and every backend)."""
        master = psutil.Process(self.pid)
        victims = [master, *master.children(recursive=True)]
        for proc in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(victims, timeout=10)

    def restart(self) -> None:
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
                     "-l", str(self.directory / "log"), "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            self._pg_ctl("-w", "-m", "fast", "stop")


@dataclass
class Outcome:
    kind: str
    phase: str
    status: int | None  # None: no HTTP answer (see ``error``)
    error: str
    elapsed: float
    retry_after: str | None
    body: Any


@dataclass
class Recorder:
    """Sends requests with a bounded client timeout and keeps every outcome, by phase."""

    http: aiohttp.ClientSession
    phase: str = "before"
    outcomes: list[Outcome] = field(default_factory=list)

    async def call(self, kind: str, method: str, url: str, **kw: Any) -> Outcome:
        phase, started = self.phase, time.monotonic()
        status: int | None = None
        error, retry_after, body = "", None, None
        try:
            async with self.http.request(
                method, url, timeout=aiohttp.ClientTimeout(total=REQUEST_BOUND_S), **kw
            ) as resp:
                status, retry_after = resp.status, resp.headers.get("Retry-After")
                if resp.content_type == "application/json":
                    body = await resp.json()
                else:
                    body = await resp.text()
        except TimeoutError:
            error = "hung"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        outcome = Outcome(kind, phase, status, error, time.monotonic() - started,
                          retry_after, body)
        self.outcomes.append(outcome)
        return outcome

    def tally(self, phase: str | None = None) -> Counter[str]:
        """``kind status`` (or ``kind error``) -> count."""
        return Counter(
            f"{o.kind} {o.status if o.status is not None else o.error}"
            for o in self.outcomes if phase is None or o.phase == phase
        )

    def server_errors(self) -> list[Outcome]:
        """Answers that break the contract: 5xx other than 503, or a 503 without Retry-After
        or without a JSON error body (the queue page's 503 is HTML by design)."""
        bad = []
        for o in self.outcomes:
            if o.status is None or o.status < 500:
                continue
            if o.status != 503 or not (o.retry_after or "").isdigit():
                bad.append(o)
            elif o.kind != "page" and not (isinstance(o.body, dict) and o.body.get("error")):
                bad.append(o)
        return bad

    def hung(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error == "hung"]

    def figures(self, name: str, **extra: Any) -> None:
        """One line of figures per test (shown with ``pytest -s``), quoted in the docs."""
        phases = dict.fromkeys(o.phase for o in self.outcomes)
        by_phase = {p: dict(sorted(self.tally(p).items())) for p in phases}
        slowest = max(o.elapsed for o in self.outcomes)
        print(f"\n[{name}] requests={len(self.outcomes)} slowest={slowest:.2f}s "
              f"{by_phase} {extra}")


async def repeat(stop: asyncio.Event, pause_s: float, step: Any) -> None:
    """Run ``await step()`` until ``stop`` is set, ``pause_s`` apart."""
    while not stop.is_set():
        await step()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause_s)


async def pg_connect(url: str) -> asyncpg.Connection:
    """A connection for the tests' own checks, retried while the server finishes recovery."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return await asyncpg.connect(url)
        except (OSError, asyncpg.CannotConnectNowError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


# The ``start_app`` fixture: ``await start_app("waitingroom", REDIS_URL=...)``.
StartApp = Callable[..., Awaitable[AppProcess]]
