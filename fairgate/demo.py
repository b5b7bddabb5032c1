"""``make demo``: both apps on embedded servers, a demo room and event, URLs printed.

Starts (or reuses) the embedded Redis and PostgreSQL, runs the waiting room and the ticketing app
as child processes pointed at them, creates the ``demo`` room and an event with seats if they do
not exist, prints where to go, and on Ctrl-C stops everything it started; SIGTERM (``kill``)
and SIGHUP (the terminal closed) stop it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .config import ConfigError, Settings
from .embedded import Backends, EmbeddedServerError, ensure_backends
from .lifecycle import exit_on_signals

DEMO_ROOM = "demo"
START_TIMEOUT_S = 60.0

DEMO_ROOM_SETTINGS = {
    "admit_per_minute": 30,  # slow enough to watch the queue move, fast enough to get in
    "max_active": 50,
    "session_ttl": 900,
    "state": "open",
}

DEMO_EVENT = {
    "name": "Fairgate Philharmonic — Opening Night",
    "room": DEMO_ROOM,
    "per_visitor_limit": 4,
    "hold_ttl_s": 300,
    "currency": "USD",
    # Prices in minor units (cents).
    "sections": [
        {"name": "Floor", "rows": 8, "seats_per_row": 16, "price": 12000},
        {"name": "Balcony", "rows": 4, "seats_per_row": 20, "price": 6500},
    ],
}


class DemoError(Exception):
    """The demo could not start; the message says why."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _spawn(name: str, module: str, port: int, settings: Settings, env: dict[str, str]) -> Child:
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    # The child inherits the descriptor; our copy is closed right after the spawn.
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "serve", "--host", settings.host, "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # we stop the children ourselves, in order, on Ctrl-C
    )
    log_file.close()
    return Child(name, proc, log_path)


async def _wait_healthy(session: aiohttp.ClientSession, child: Child, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            tail = child.log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise DemoError(
                f"{child.name} exited with status {child.proc.returncode}:\n  "
                + "\n  ".join(tail)
            )
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            async with session.get(f"{url}/healthz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise DemoError(f"{child.name} did not become healthy in {START_TIMEOUT_S:.0f}s; "
                    f"see {child.log_path}")


async def _admin(
    session: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with session.request(method, url, json=body, headers=headers) as resp:
        try:
            data = await resp.json(content_type=None)
        except ValueError:
            data = await resp.text()
        return resp.status, data


async def _seed(settings: Settings) -> str:
    """Create the demo room and event when missing; return the event's page URL."""
    wr, tk, token = settings.waitingroom_url, settings.ticketing_url, settings.admin_token
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        status, _ = await _admin(session, "GET", f"{wr}/admin/api/rooms/{DEMO_ROOM}", token)
        if status == 404:
            body = {**DEMO_ROOM_SETTINGS, "target_url": f"{tk}/enter"}
            status, data = await _admin(
                session, "PUT", f"{wr}/admin/api/rooms/{DEMO_ROOM}", token, body
            )
            if status >= 300:
                raise DemoError(f"could not create the demo room: {status} {data}")
        status, events = await _admin(session, "GET", f"{tk}/admin/api/events", token)
        if status != 200:
            raise DemoError(f"could not list events: {status} {events}")
        items = events.get("events", []) if isinstance(events, dict) else events
        existing = [e for e in items if e.get("room") == DEMO_ROOM]
        if existing:
            event_id = existing[0]["id"]
        else:
            status, data = await _admin(session, "POST", f"{tk}/admin/api/events", token,
                                        DEMO_EVENT)
            if status != 201:
                raise DemoError(f"could not create the demo event: {status} {data}")
            event_id = data["id"]
    return f"{tk}/events/{event_id}"


def _banner(settings: Settings, event_url: str, children: list[Child]) -> str:
    wr = settings.waitingroom_url
    lines = [
        "",
        "Fairgate demo is running.",
        "",
        f"  Queue page (open this):  {wr}/r/{DEMO_ROOM}",
        f"  Ticketing app:           {settings.ticketing_url}  (event page: {event_url})",
        f"  Operator dashboard:      {wr}/admin",
        f"  Admin token:             {settings.admin_token}",
        "",
        f"  Turn the admission-rate knob:  ADMIN_TOKEN={settings.admin_token} "
        f"waitingroom-admin --url {wr} rooms set {DEMO_ROOM} --rate 120",
        f"  Logs: {', '.join(str(c.log_path) for c in children)}",
        f"  Data: {settings.data_dir}",
        "",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def _stop_children(children: list[Child]) -> None:
    for child in children:
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGINT)  # aiohttp's graceful shutdown
    for child in children:
        try:
            child.proc.wait(10)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()


def run(settings: Settings) -> int:
    for name, port in (("WAITINGROOM_PORT", settings.waitingroom_port),
                       ("TICKETING_PORT", settings.ticketing_port)):
        if not _port_free(settings.host, port):
            raise DemoError(f"port {port} on {settings.host} is in use; set {name} to another")
    print("Starting embedded Redis and PostgreSQL...", flush=True)
    backends: Backends = ensure_backends(
        settings.data_dir, settings.redis_url, settings.database_url
    )
    children: list[Child] = []
    try:
        env = {
            **os.environ,
            "REDIS_URL": backends.redis_url or "",
            "DATABASE_URL": backends.database_url or "",
            "DATA_DIR": str(settings.data_dir),
            "SECRET_KEYS": ",".join(settings.secret_keys),
            "ADMIN_TOKEN": settings.admin_token,
            "WAITINGROOM_URL": settings.waitingroom_url,
            "TICKETING_URL": settings.ticketing_url,
        }
        print("Starting the waiting room and the ticketing app...", flush=True)
        children.append(_spawn("waitingroom", "waitingroom", settings.waitingroom_port,
                               settings, env))
        children.append(_spawn("ticketing", "ticketing", settings.ticketing_port, settings, env))

        async def start() -> str:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
                await _wait_healthy(s, children[0], settings.waitingroom_url)
                await _wait_healthy(s, children[1], settings.ticketing_url)
            return await _seed(settings)

        event_url = asyncio.run(start())
        print(_banner(settings, event_url, children), flush=True)
        while all(c.proc.poll() is None for c in children):
            time.sleep(0.5)
        dead = next(c for c in children if c.proc.poll() is not None)
        raise DemoError(f"{dead.name} stopped unexpectedly; see {dead.log_path}")
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    finally:
        _stop_children(children)
        backends.stop()


def main() -> None:
    try:
        settings = Settings.from_env()
        # The children run in their own sessions (no terminal's signals reach them): without
        # this, a killed demo left both apps, Redis and PostgreSQL running, and the next one
        # found its ports taken.
        with exit_on_signals(signal.SIGTERM, signal.SIGHUP):
            sys.exit(run(settings))
    except (ConfigError, EmbeddedServerError, DemoError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
