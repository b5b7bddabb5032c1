"""Soak: a steady load on both apps for minutes, watching memory, file descriptors and errors.

    python -m bench.soak [--minutes 5] [--sample-s 10] [--visitors 40] [--json PATH]

Starts private Redis and PostgreSQL, one ``python -m waitingroom serve`` and one
``python -m ticketing serve`` process, a room admitting ``ADMIT_PER_MINUTE`` and an event. Each
simulated visitor goes the whole way, over and over: join, poll until admitted, exchange the
admission token for a ticketing session, read the seat map, hold a seat, confirm, cancel the
booking (so seats never run out), and a fresh visitor starts again. The load is therefore steady:
the admission rate paces it.

Every ``--sample-s`` it records each app process's resident memory (VmRSS) and open file
descriptors (/proc/PID/fd) and the requests and errors since the previous sample. The first
``WARMUP_SHARE`` of the run is warm-up (allocator arenas, caches, pools filling up). Exit status
1 when, after warm-up, memory or descriptors grow beyond the tolerances below, or when any
request got a 5xx, no answer, or an answer the contract does not allow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from . import procs

ADMIT_PER_MINUTE = 1200
SEATS = 500
POLL_S = 0.3
WARMUP_SHARE = 0.2
# Growth allowed between the first and the last quarter after warm-up: a process whose memory
# creeps by more than 10 % (or 16 MiB, whichever is larger) or that keeps 8 more descriptors
# open is leaking; less is noise from the allocator and the connection pools.
RSS_GROWTH_SHARE = 0.10
RSS_GROWTH_MIN = 16 * 1024 * 1024
FD_GROWTH = 8
CLIENT_TIMEOUT_S = 10.0
# What each step may answer under a steady load; anything else is an error.
ALLOWED = {"join": {200}, "status": {200}, "session": {200}, "seats": {200, 304},
           "hold": {201, 409}, "confirm": {201}, "cancel": {200}}


@dataclass
class Tally:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)  # "kind status" not in ALLOWED

    def add(self, kind: str, status: int | str) -> None:
        self.requests += 1
        self.by_status[str(status)] += 1
        if status not in ALLOWED[kind]:
            self.bad[f"{kind} {status}"] += 1


@dataclass
class Sample:
    t_s: float
    wr_rss_mib: float
    wr_fds: int
    tk_rss_mib: float
    tk_fds: int
    requests: int
    server_errors: int  # 5xx and requests without an answer, in this interval
    bad: int  # any answer outside ALLOWED (server errors included), in this interval


def proc_stats(pid: int) -> tuple[float, int]:
    """(resident memory in MiB, open file descriptors) of a live process (Linux /proc)."""
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


class Driver:
    def __init__(self, http: aiohttp.ClientSession, wr: str, tk: str, room: str,
                 event_id: int, seat_ids: list[int]) -> None:
        self.http, self.wr, self.tk, self.room = http, wr, tk, room
        self.event_id, self.seat_ids = event_id, seat_ids
        self.tally = Tally()

    async def call(self, kind: str, method: str, url: str, **kw: Any) -> tuple[int, Any]:
        try:
            async with self.http.request(method, url, **kw) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                self.tally.add(kind, resp.status)
                return resp.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.tally.add(kind, type(exc).__name__)
            return 0, None

    async def visitor(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.one_visit(stop)

    async def one_visit(self, stop: asyncio.Event) -> None:
        status, body = await self.call("join", "POST", f"{self.wr}/api/rooms/{self.room}/join")
        if status != 200:
            await asyncio.sleep(1)
            return
        ticket = {"X-Queue-Ticket": body["ticket"]}
        redirect = body.get("redirect_url")
        while redirect is None and not stop.is_set():
            await asyncio.sleep(POLL_S)
            status, body = await self.call("status", "GET",
                                           f"{self.wr}/api/rooms/{self.room}/status",
                                           headers=ticket)
            if status == 200:
                redirect = body.get("redirect_url")
        if redirect is None:
            return
        token = parse_qs(urlsplit(redirect).query)["token"][0]
        status, body = await self.call("session", "POST", f"{self.tk}/api/session",
                                       json={"token": token})
        if status != 200:
            return
        auth = {"Authorization": f"Bearer {body['session']}"}
        await self.call("seats", "GET", f"{self.tk}/api/events/{self.event_id}/seats",
                        headers=auth)
        for _ in range(3):  # a taken seat: try another
            status, body = await self.call(
                "hold", "POST", f"{self.tk}/api/events/{self.event_id}/holds",
                headers={**auth, "Idempotency-Key": secrets.token_hex(8)},
                json={"seat_ids": [random.choice(self.seat_ids)]})
            if status != 409:
                break
        if status != 201:
            return
        status, body = await self.call("confirm", "POST",
                                       f"{self.tk}/api/holds/{body['hold_id']}/confirm",
                                       headers=auth)
        if status == 201:
            await self.call("cancel", "POST",
                            f"{self.tk}/api/bookings/{body['booking_id']}/cancel", headers=auth)


async def _setup(http: aiohttp.ClientSession, wr: str, tk: str) -> tuple[str, int, list[int]]:
    admin = {"Authorization": f"Bearer {procs.ADMIN_TOKEN}"}
    room = f"soak{secrets.token_hex(3)}"
    async with http.put(f"{wr}/admin/api/rooms/{room}", headers=admin, json={
        "target_url": f"{tk}/enter", "admit_per_minute": ADMIT_PER_MINUTE,
        "max_active": 1000, "session_ttl": 120}) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post(f"{tk}/admin/api/events", headers=admin, json={
        "name": "Soak", "room": room, "per_visitor_limit": 4, "hold_ttl_s": 60,
        "sections": [{"name": "A", "rows": SEATS // 50, "seats_per_row": 50,
                      "price": 1000}]}) as resp:
        assert resp.status == 201, await resp.text()
        event_id = (await resp.json())["id"]
    from fairgate.tokens import Signer

    token = Signer((procs.SECRET_KEYS,)).admission(room, secrets.token_hex(16), 1,
                                                   time.time() + 60)
    async with http.post(f"{tk}/api/session", json={"token": token}) as resp:
        auth = {"Authorization": f"Bearer {(await resp.json())['session']}"}
    async with http.get(f"{tk}/api/events/{event_id}/seats", headers=auth) as resp:
        seat_ids = [s["id"] for s in (await resp.json())["seats"]]
    return room, event_id, seat_ids


def judge(samples: list[Sample]) -> list[str]:
    """What went wrong, in words; empty when the run passed."""
    problems = [f"{s.server_errors} server errors in the interval ending at {s.t_s:.0f}s"
                for s in samples if s.server_errors]
    problems += [f"{s.bad} disallowed answers in the interval ending at {s.t_s:.0f}s"
                 for s in samples if s.bad and not s.server_errors]
    steady = samples[int(len(samples) * WARMUP_SHARE):]
    if len(steady) < 2:
        return [*problems, "too few samples after warm-up to judge growth"]
    quarter = max(1, len(steady) // 4)
    first, last = steady[:quarter], steady[-quarter:]
    for app in ("wr", "tk"):
        base = statistics.median(getattr(s, f"{app}_rss_mib") for s in first)
        end = statistics.median(getattr(s, f"{app}_rss_mib") for s in last)
        allowed = max(base * RSS_GROWTH_SHARE, RSS_GROWTH_MIN / 2**20)
        if end - base > allowed:
            problems.append(f"{app} memory grew {end - base:.1f} MiB (allowed {allowed:.1f})")
        fd_base = max(getattr(s, f"{app}_fds") for s in first)
        fd_end = max(getattr(s, f"{app}_fds") for s in last)
        if fd_end - fd_base > FD_GROWTH:
            problems.append(f"{app} descriptors grew {fd_base} -> {fd_end} (allowed +{FD_GROWTH})")
    return problems


async def soak(wr: procs.Proc, tk: procs.Proc, *, seconds: float, sample_s: float,
               visitors: int) -> tuple[list[Sample], Tally]:
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=visitors * 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        room, event_id, seat_ids = await _setup(http, wr.url, tk.url)
        driver = Driver(http, wr.url, tk.url, room, event_id, seat_ids)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(driver.visitor(stop)) for _ in range(visitors)]
        samples: list[Sample] = []
        started = time.monotonic()
        seen = Tally()
        print(" t(s)  wr MiB  wr fds  tk MiB  tk fds  requests  5xx/none  disallowed", flush=True)
        while time.monotonic() - started < seconds:
            await asyncio.sleep(sample_s)
            now = driver.tally
            errors = sum(n for k, n in now.by_status.items() if not k.isdigit() or k[0] == "5")
            errors -= sum(n for k, n in seen.by_status.items() if not k.isdigit() or k[0] == "5")
            wr_rss, wr_fds = proc_stats(wr.popen.pid)
            tk_rss, tk_fds = proc_stats(tk.popen.pid)
            s = Sample(round(time.monotonic() - started, 1), round(wr_rss, 1), wr_fds,
                       round(tk_rss, 1), tk_fds, now.requests - seen.requests, errors,
                       sum(now.bad.values()) - sum(seen.bad.values()))
            samples.append(s)
            seen = Tally(now.requests, Counter(now.by_status), Counter(now.bad))
            print(f"{s.t_s:5.0f}  {s.wr_rss_mib:6.1f}  {s.wr_fds:6d}  {s.tk_rss_mib:6.1f}  "
                  f"{s.tk_fds:6d}  {s.requests:8d}  {s.server_errors:8d}  {s.bad:10d}",
                  flush=True)
        stop.set()
        await asyncio.gather(*tasks)
        return samples, driver.tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--visitors", type=int, default=40)
    parser.add_argument("--json", type=Path, default=None, help="write the samples here")
    args = parser.parse_args(argv)
    with procs.stack() as st:
        wr = st.start("waitingroom", "waitingroom")
        tk = st.start("ticketing", "ticketing", env={"WAITINGROOM_URL": wr.url})
        samples, tally = asyncio.run(soak(wr, tk, seconds=args.minutes * 60,
                                          sample_s=args.sample_s, visitors=args.visitors))
    problems = judge(samples)
    print(f"requests: {tally.requests}; answers: {dict(sorted(tally.by_status.items()))}")
    print(f"disallowed answers: {dict(tally.bad) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({
            "minutes": args.minutes, "visitors": args.visitors,
            "samples": [asdict(s) for s in samples], "answers": dict(tally.by_status),
            "disallowed": dict(tally.bad), "problems": problems}, indent=1))
    for problem in problems:
        print(f"FAIL: {problem}")
    if not problems:
        print("PASS: no server error, memory and descriptors flat after warm-up")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
