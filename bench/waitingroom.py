"""The waiting room against its baselines, all measured in one run on one machine.

* hello: a bare aiohttp hello-world (``bench.hello``) under wrk, the same connections, threads
  and duration as every HTTP figure below;
* redis: ``INCR`` + ``ZADD`` from redis-py without HTTP, a closed loop at the same concurrency;
* poll: ``GET /api/rooms/{room}/status`` under wrk, rotating through many real tickets in
  ``X-Queue-Ticket`` (``bench/poll.lua``);
* join: ``POST /api/rooms/{room}/join`` under wrk without a ticket (``bench/join.lua``), so every
  request is a new visitor;
* memory: Redis ``used_memory`` per queued visitor at 100,000 queued (30,000 in ``--quick``),
  filled through the join
  Lua script itself (pipelined ``EVALSHA``), so the keys are exactly what a join writes;
* commands: ``INFO commandstats`` deltas while the crowd polls, in two phases with different
  admission rates: the difference gives commands per admitted visitor, the rest is the cost of
  the waiting crowd;
* latency: an open-loop generator in which each simulated visitor polls again after the
  ``poll_after_ms`` the server chose, and leaves once admitted.

HTTP figures are wrk runs alternated in rounds (hello, poll, join, ...) and reported as the
median over rounds of each ratio to the neighbouring hello-world run. Any 5xx, non-2xx answer,
lost or duplicate number, or admission out of order exits non-zero.

    python -m bench.waitingroom [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import redis.asyncio as aioredis

from fairgate.tokens import Signer, new_visitor_id
from fairgate.web import install_uvloop
from waitingroom import keys
from waitingroom.storage import _source

from . import procs, wrk

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
POLL_LUA = BENCH_DIR / "poll.lua"
JOIN_LUA = BENCH_DIR / "join.lua"
ADMIN = {"Authorization": f"Bearer {procs.ADMIN_TOKEN}"}
TARGET_URL = "http://127.0.0.1:9/enter"  # never followed: the benchmark only reads the token
SESSION_TTL_S = 600
# Visitors a fill writes per pipelined round trip.
FILL_CHUNK = 1000
# Shortest command-counting window that gives a per-admission figure.
MIN_COMMAND_WINDOW_S = 10.0
# Issue 6 targets (reported, never asserted on timing).
TARGETS = {"poll_vs_hello": 0.6, "join_vs_hello": 0.3, "poll_p99_ms": 50.0}


@dataclass(frozen=True)
class Plan:
    seconds: float  # each wrk / baseline run
    rounds: int  # hello, poll, join alternated this many times
    connections: int  # wrk connections = redis-py concurrency
    poll_tickets: int  # distinct tickets wrk rotates through
    queued: int  # visitors queued for the memory figure
    simulated: int  # of those, visitors polling in the latency run
    phase_s: float  # each of the two admission phases of the latency run
    rates: tuple[int, int]  # admit_per_minute of the two phases
    # Enough that the generator's own connection pool never becomes the queue.
    generator_connections: int = 256


# The first phase admits a trickle (its commands are nearly all the waiting crowd's), the
# second many: the difference is the cost of admitting.
QUICK = Plan(seconds=2, rounds=1, connections=50, poll_tickets=2000, queued=30_000,
             simulated=10_000, phase_s=5, rates=(60, 1800))
FULL = Plan(seconds=5, rounds=3, connections=50, poll_tickets=5000, queued=100_000,
            simulated=100_000, phase_s=30, rates=(60, 3000))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- admin and Redis helpers ------------------------------------------------------------------
async def put_room(session: aiohttp.ClientSession, base: str, room: str, **settings: Any) -> None:
    body = {"target_url": TARGET_URL, "session_ttl": SESSION_TTL_S, "max_active": 1_000_000,
            "state": "open", **settings}
    async with session.put(f"{base}/admin/api/rooms/{room}", json=body, headers=ADMIN) as resp:
        if resp.status not in (200, 201):
            raise RuntimeError(f"PUT room {room}: {resp.status} {await resp.text()}")


async def patch_room(session: aiohttp.ClientSession, base: str, room: str,
                     **settings: Any) -> None:
    async with session.patch(f"{base}/admin/api/rooms/{room}", json=settings,
                             headers=ADMIN) as resp:
        if resp.status != 200:
            raise RuntimeError(f"PATCH room {room}: {resp.status} {await resp.text()}")


async def commandstats(r: aioredis.Redis) -> Counter[str]:
    info = await r.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()})


async def check_numbers(r: aioredis.Redis, room: str) -> list[str]:
    """Every number handed out is in the queue exactly once (the room admits nobody)."""
    k = keys.RoomKeys(room)
    issued = int(await r.get(k.issued) or 0)
    scores = [int(s) for _, s in await r.zrange(k.queue, 0, -1, withscores=True)]
    problems = []
    if len(set(scores)) != len(scores):
        problems.append(f"{room}: {len(scores) - len(set(scores))} duplicate numbers")
    missing = issued - len(set(scores))
    if missing or (scores and max(scores) != issued):
        problems.append(f"{room}: issued {issued}, queued {len(set(scores))} ({missing} lost)")
    return problems


# -- HTTP figures: wrk --------------------------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server process and its direct children (workers)."""
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def wrk_run(url: str, plan: Plan, pid: int | None = None, **kw: Any) -> wrk.WrkResult:
    """A wrk run; with ``pid``, also the server's CPU microseconds per request, a figure the
    other work on a shared machine moves much less than requests per second."""
    before = cpu_seconds(pid) if pid else 0.0
    res = wrk.run(url, seconds=plan.seconds, connections=plan.connections, threads=1, **kw)
    if pid:
        res.cpu_us_per_request = (cpu_seconds(pid) - before) * 1e6 / max(res.requests, 1)
    return res


async def redis_baseline(redis_url: str, plan: Plan) -> dict[str, float]:
    """INCR + ZADD per visitor, what a join needs at least, straight from redis-py."""
    r = aioredis.from_url(redis_url, decode_responses=True, max_connections=plan.connections)
    issued, queue = "bench:{baseline}:issued", "bench:{baseline}:queue"
    await r.delete(issued, queue)
    done = 0
    stop_at = time.perf_counter() + plan.seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            n = await r.incr(issued)
            await r.zadd(queue, {new_visitor_id(): n})
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(plan.connections)))
    elapsed = time.perf_counter() - started
    count = await r.zcard(queue)
    await r.delete(issued, queue)
    await r.aclose()
    return {"visitors_per_s": done / elapsed, "visitors": done, "queued": count}


async def join_tickets(session: aiohttp.ClientSession, base: str, room: str,
                       count: int) -> list[str]:
    """Real tickets through the real join path."""
    sem = asyncio.Semaphore(32)

    async def one() -> str:
        async with sem, session.post(f"{base}/api/rooms/{room}/join") as resp:
            if resp.status != 200:
                raise RuntimeError(f"join: {resp.status} {await resp.text()}")
            return (await resp.json())["ticket"]

    return await asyncio.gather(*(one() for _ in range(count)))


# -- memory: a fast fill through the join script --
async def fill(r: aioredis.Redis, room: str, count: int) -> list[tuple[str, int]]:
    """``count`` fresh visitors through join.lua itself, pipelined; returns (visitor, number)."""
    k = keys.RoomKeys(room)
    script = r.register_script(_source("join", common=True))
    await r.script_load(script.script)
    room_keys = [k.config, k.issued, k.queue, k.seen, k.lapsed, k.active, k.serving, k.left,
                 k.prequeue, k.preseq, k.prenum, k.admlog, k.recent]
    out: list[tuple[str, int]] = []
    for start in range(0, count, FILL_CHUNK):
        async with r.pipeline(transaction=False) as pipe:
            for _ in range(min(FILL_CHUNK, count - start)):
                pipe.evalsha(script.sha, len(room_keys), *room_keys,
                             "", 0, "0", new_visitor_id(), random.getrandbits(31), "1")
            for result in await pipe.execute():
                if result[0] != "new":
                    raise RuntimeError(f"fill: join answered {result}")
                out.append((str(result[1]), int(result[2])))
    return out


# -- latency: open-loop pollers --
@dataclass
class PollRecord:
    latencies_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    series: list[tuple[float, float]] = field(default_factory=list)  # (t since start, ms)
    statuses: Counter[int] = field(default_factory=Counter)
    admitted: dict[int, float] = field(default_factory=dict)  # number -> admitted at (unix)
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0  # time.perf_counter() at the start


class HttpConn:
    """One keep-alive HTTP/1.1 connection, one request at a time: cheap enough in Python to
    keep thousands of polls per second going from one core."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def simulate(base: str, room: str, tickets: list[tuple[int, str]], duration_s: float,
                   connections: int, signer: Signer, on_tick: Any = None) -> PollRecord:
    """Each visitor polls at the interval the server last gave it; the first polls are spread
    uniformly over the longest interval (30 s), as a crowd that has been waiting a while."""
    split = urlsplit(base)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    path = f"/api/rooms/{room}/status"
    rec = PollRecord()
    rec.started = time.perf_counter()
    heap: list[tuple[float, int]] = []
    start = rec.started
    spread = min(30.0, duration_s)
    for i in range(len(tickets)):
        heap.append((start + random.random() * spread, i))
    heapq.heapify(heap)
    due: asyncio.Queue[tuple[float, int]] = asyncio.Queue()
    end = start + duration_s

    async def scheduler() -> None:
        while heap:
            t, i = heap[0]
            now = time.perf_counter()
            if t > end:
                break
            if t > now:
                await asyncio.sleep(min(t - now, 0.005))
                continue
            heapq.heappop(heap)
            due.put_nowait((t, i))
        for _ in range(connections):
            due.put_nowait((-1.0, -1))

    async def worker() -> None:
        conn = HttpConn(host, port)
        while True:
            t_due, i = await due.get()
            if i < 0:
                break
            number, ticket = tickets[i]
            sent = time.perf_counter()
            try:
                status, body = await conn.get(path, {"X-Queue-Ticket": ticket})
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                rec.errors[type(exc).__name__] += 1
                heapq.heappush(heap, (time.perf_counter() + 1.0, i))
                continue
            done = time.perf_counter()
            rec.statuses[status] += 1
            ms = (done - t_due) * 1000
            rec.latencies_ms.append(ms)
            rec.service_ms.append((done - sent) * 1000)
            rec.lag_ms.append((sent - t_due) * 1000)
            rec.series.append((done - start, ms))
            if status != 200:
                heapq.heappush(heap, (done + 1.0, i))
                continue
            data = json.loads(body)
            if data.get("state") == "admitted":
                token = parse_qs(urlsplit(data["redirect_url"]).query)["token"][0]
                adm = signer.load_admission(token)
                if number in rec.admitted:
                    rec.duplicates += 1
                rec.admitted[number] = adm.expires_at - SESSION_TTL_S
                continue
            heapq.heappush(heap, (done + data["poll_after_ms"] / 1000, i))

    ticker = asyncio.create_task(on_tick(start)) if on_tick else None
    await asyncio.gather(scheduler(), *(worker() for _ in range(connections)))
    if ticker is not None:
        await ticker
    return rec


def fifo_inversions(admitted: dict[int, float]) -> int:
    """Visitors admitted at an earlier tick than someone with a smaller number."""
    inversions = 0
    latest = float("-inf")
    for number in sorted(admitted):
        t = admitted[number]
        if t < latest - 1e-6:
            inversions += 1
        latest = max(latest, t)
    return inversions


def per_second(series: list[tuple[float, float]]) -> list[dict[str, float]]:
    buckets: dict[int, list[float]] = {}
    for t, ms in series:
        buckets.setdefault(int(t), []).append(ms)
    return [{"t": s, "requests": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)}
            for s, v in sorted(buckets.items())]


# -- the run --
async def bench(stack: procs.Stack, plan: Plan, tmp: Path, *,
                http_only: bool = False) -> dict[str, Any]:
    problems: list[str] = []
    hello = stack.start("hello", "bench.hello", serve=False)
    wr = stack.start("waitingroom", "waitingroom")
    redis_url = stack.backends.redis_url or ""
    r = aioredis.from_url(redis_url, decode_responses=True)
    signer = Signer([procs.SECRET_KEYS])
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        base = wr.url
        # Rooms: one for polls (a trickle of admission, so it is "waiting"), one for joins
        # (admission off, so every number stays in the queue and can be counted).
        await put_room(session, base, "bench-poll", admit_per_minute=1)
        await put_room(session, base, "bench-join", admit_per_minute=0)
        await join_tickets(session, base, "bench-poll", 100)  # people ahead of the pollers
        tickets = await join_tickets(session, base, "bench-poll", plan.poll_tickets)
        ticket_file = tmp / "tickets.txt"
        ticket_file.write_text("\n".join(tickets) + "\n")

        # HTTP figures, alternated in rounds so neighbouring runs see the same machine load.
        runs: dict[str, list[dict[str, Any]]] = {"hello": [], "poll": [], "join": []}
        ratios: dict[str, list[float]] = {"poll": [], "join": []}
        for _ in range(plan.rounds):
            h = await asyncio.to_thread(wrk_run, f"{hello.url}/", plan, hello.popen.pid)
            p = await asyncio.to_thread(wrk_run, f"{base}/api/rooms/bench-poll/status", plan,
                                        wr.popen.pid, script=POLL_LUA,
                                        script_args=[str(ticket_file)])
            j = await asyncio.to_thread(wrk_run, f"{base}/api/rooms/bench-join/join", plan,
                                        wr.popen.pid, script=JOIN_LUA)
            for name, res in (("hello", h), ("poll", p), ("join", j)):
                runs[name].append(res.as_dict())
                if res.errors_non_2xx:
                    problems.append(f"{name}: {res.errors_non_2xx} non-2xx answers")
            ratios["poll"].append(p.requests_per_s / h.requests_per_s)
            ratios["join"].append(j.requests_per_s / h.requests_per_s)
        problems += await check_numbers(r, "bench-join")
        baseline = await redis_baseline(redis_url, plan)
        if baseline["queued"] != baseline["visitors"]:
            problems.append(f"redis baseline: {baseline['visitors']} visitors, "
                            f"{baseline['queued']} queued")
        med = {name: statistics.median(x["requests_per_s"] for x in v) for name, v in runs.items()}
        cpu = {name: statistics.median(x["cpu_us_per_request"] for x in v)
               for name, v in runs.items()}
        results["http"] = {
            "runs": runs,
            "median_rps": med,
            "poll_vs_hello": statistics.median(ratios["poll"]),
            "poll_vs_hello_rounds": ratios["poll"],
            "join_vs_hello": statistics.median(ratios["join"]),
            "join_vs_hello_rounds": ratios["join"],
            "redis_baseline": baseline,
            "join_vs_redis": med["join"] / baseline["visitors_per_s"],
            # Server CPU per request: hello's over the product's is the throughput ratio one
            # dedicated core would give, whatever else runs on the machine.
            "cpu_us_per_request": cpu,
            "poll_vs_hello_cpu": cpu["hello"] / cpu["poll"],
            "join_vs_hello_cpu": cpu["hello"] / cpu["join"],
        }
        if http_only:
            await r.aclose()
            return {"results": results, "problems": problems}

        # Memory at 100,000 queued, in a fresh room with admission off.
        await put_room(session, base, "bench-crowd", admit_per_minute=0)
        await r.execute_command("MEMORY", "PURGE")
        before = int((await r.info("memory"))["used_memory"])
        t0 = time.perf_counter()
        crowd = await fill(r, "bench-crowd", plan.queued)
        fill_s = time.perf_counter() - t0
        await r.execute_command("MEMORY", "PURGE")
        after = int((await r.info("memory"))["used_memory"])
        numbers = [n for _, n in crowd]
        if sorted(numbers) != list(range(1, plan.queued + 1)):
            problems.append("fill: numbers are not exactly 1..N")
        results["memory"] = {
            "queued": plan.queued,
            "used_memory_delta": after - before,
            "bytes_per_visitor": (after - before) / plan.queued,
            "fill_s": fill_s,
            "fill_method": "join.lua via pipelined EVALSHA (the keys a join writes)",
        }

        # Latency and commands: the front of the crowd polls at the server's interval.
        now = time.time()
        sim = [(n, signer.ticket("bench-crowd", v, n, now)) for v, n in crowd[:plan.simulated]]
        # The crowd's objects live to the end: keep the collector from scanning them again.
        gc.collect()
        gc.freeze()
        stats_at: list[tuple[float, Counter[str], int]] = []

        async def phases(start: float) -> None:
            await patch_room(session, base, "bench-crowd", admit_per_minute=plan.rates[0])
            await asyncio.sleep(max(0.0, start + plan.phase_s * 0.5 - time.perf_counter()))
            for i in range(2):
                # Commands are counted over the second half of each phase, once the new rate
                # has reached the pollers' intervals.
                stats_at.append((time.perf_counter(), await commandstats(r),
                                 await r.zcard(keys.RoomKeys("bench-crowd").active)))
                await asyncio.sleep(max(0.0, start + plan.phase_s * (i + 1) - time.perf_counter()))
                stats_at.append((time.perf_counter(), await commandstats(r),
                                 await r.zcard(keys.RoomKeys("bench-crowd").active)))
                if i == 0:
                    await patch_room(session, base, "bench-crowd", admit_per_minute=plan.rates[1])
                    await asyncio.sleep(
                        max(0.0, start + plan.phase_s * 1.5 - time.perf_counter()))

        rec = await simulate(base, "bench-crowd", sim, plan.phase_s * 2,
                             plan.generator_connections, signer, on_tick=phases)
        await patch_room(session, base, "bench-crowd", admit_per_minute=0)
        fives = sum(c for s, c in rec.statuses.items() if s >= 500)
        if fives:
            problems.append(f"latency run: {fives} 5xx answers")
        if rec.duplicates:
            problems.append(f"latency run: {rec.duplicates} visitors admitted twice")
        inversions = fifo_inversions(rec.admitted)
        if inversions:
            problems.append(f"latency run: {inversions} FIFO inversions")
        k = keys.RoomKeys("bench-crowd")
        serving = int(await r.get(k.serving) or 0)
        skipped = await r.zcount(k.queue, "-inf", serving)
        if skipped:
            problems.append(f"latency run: {skipped} visitors at or below serving still queued")

        phase_figures = []
        for (t_a, c_a, act_a), (t_b, c_b, act_b), rate in zip(
                stats_at[0::2], stats_at[1::2], plan.rates, strict=True):
            minutes = (t_b - t_a) / 60
            delta = c_b - c_a
            # The reading itself (INFO, ZCARD) is not the product's traffic.
            delta["info"] = 0
            delta["zcard"] = max(0, delta["zcard"] - 1)
            polls_in = sum(1 for t, _ in rec.series
                           if t_a - rec.started <= t < t_b - rec.started)
            phase_figures.append({
                "admit_per_minute": rate, "minutes": minutes, "polls": polls_in,
                "commands": sum(delta.values()), "admitted": act_b - act_a,
                "by_command": dict(delta.most_common()),
            })
        a, b = phase_figures
        # What admitting costs: the extra commands of the fast phase per extra admission
        # (the admission ticks, the admitted visitors' last polls, and the faster polling at
        # the front that a faster queue brings).
        per_admitted: float | None = None
        admitted_cost = 0.0
        # Heartbeats come in one lump per interval, so a window of a few seconds holds one
        # lump more or less than its neighbour: too coarse for a difference (--quick).
        if a["minutes"] * 60 >= MIN_COMMAND_WINDOW_S:
            per_admitted = (b["commands"] / b["minutes"] - a["commands"] / a["minutes"]) / max(
                b["admitted"] / b["minutes"] - a["admitted"] / a["minutes"], 1e-9)
            admitted_cost = per_admitted * a["admitted"]
        waiting = plan.simulated
        per_k_waiting = (a["commands"] - admitted_cost) / a["minutes"] / (waiting / 1000)
        polls = len(rec.latencies_ms)
        results["latency"] = {
            "simulated": plan.simulated,
            "queued": plan.queued,
            "duration_s": plan.phase_s * 2,
            "polls": polls,
            "polls_per_s": polls / (plan.phase_s * 2),
            "p50_ms": pct(rec.latencies_ms, 0.5),
            "p99_ms": pct(rec.latencies_ms, 0.99),
            "max_ms": max(rec.latencies_ms, default=float("nan")),
            "service_p50_ms": pct(rec.service_ms, 0.5),
            "service_p99_ms": pct(rec.service_ms, 0.99),
            "dispatch_lag_p99_ms": pct(rec.lag_ms, 0.99),
            "statuses": {str(s): c for s, c in rec.statuses.items()},
            "client_errors": dict(rec.errors),
            "admitted": len(rec.admitted),
            "fifo_inversions": inversions,
            "series": per_second(rec.series),
            "admissions": sorted(rec.admitted.items()),
        }
        results["commands"] = {
            "phases": phase_figures,
            "per_admitted_visitor": per_admitted,
            "per_1000_waiting_per_minute": per_k_waiting,
            "per_poll": a["commands"] / a["polls"] if a["polls"] else None,
            "waiting": waiting,
            "method": "two phases with the same polling crowd, a trickle and a high admission "
                      "rate: the extra commands per minute of the fast phase per extra admission "
                      "per minute; the slow phase's commands, less its admissions at that cost, "
                      "per 1,000 waiting per minute",
        }
    await r.aclose()
    return {"results": results, "problems": problems}


def machine(redis_version: str) -> dict[str, Any]:
    import aiohttp as _aiohttp

    return {"nproc": os.cpu_count(), "python": platform.python_version(),
            "redis": redis_version, "aiohttp": _aiohttp.__version__,
            "platform": platform.platform()}


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, baseline, ratio, target) rows of the summary table."""
    res = result["results"]
    http, mem, cmd, lat = res["http"], res["memory"], res["commands"], res["latency"]
    med = http["median_rps"]
    red = http["redis_baseline"]["visitors_per_s"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    return [
        ("hello-world req/s (wrk)", f"{med['hello']:,.0f}", "-", "1.00", "baseline"),
        ("redis INCR+ZADD visitors/s (redis-py)", f"{red:,.0f}", "-", "-", "baseline"),
        ("status poll req/s", f"{med['poll']:,.0f}", f"hello {med['hello']:,.0f}",
         f"{http['poll_vs_hello']:.2f}",
         f">= 0.6 {verdict(http['poll_vs_hello'] >= TARGETS['poll_vs_hello'])}"),
        ("join req/s", f"{med['join']:,.0f}", f"hello {med['hello']:,.0f}",
         f"{http['join_vs_hello']:.2f}",
         f">= 0.3 {verdict(http['join_vs_hello'] >= TARGETS['join_vs_hello'])}"),
        ("join req/s vs raw Redis", f"{med['join']:,.0f}", f"redis {red:,.0f}",
         f"{http['join_vs_redis']:.2f}", "-"),
        *_cpu_rows(http),
        (f"Redis bytes per queued visitor ({mem['queued']:,} queued)",
         f"{mem['bytes_per_visitor']:,.0f}", "-", "-", "measured"),
        ("Redis commands per admitted visitor",
         "-" if cmd["per_admitted_visitor"] is None else f"{cmd['per_admitted_visitor']:.1f}",
         "-", "-", "measured (full run)"),
        ("Redis commands per 1,000 waiting per minute",
         f"{cmd['per_1000_waiting_per_minute']:,.0f}", "-", "-", "measured"),
        (f"poll p50 ({lat['simulated']:,} polling, {lat['polls_per_s']:,.0f} polls/s)",
         f"{lat['p50_ms']:.1f} ms", "-", "-", "-"),
        (f"poll p99 ({lat['simulated']:,} polling, {lat['polls_per_s']:,.0f} polls/s)",
         f"{lat['p99_ms']:.1f} ms", "-", "-",
         f"< 50 ms {verdict(lat['p99_ms'] < TARGETS['poll_p99_ms'])}"),
        ("poll p50 / p99 from the request's write (no wait for a connection)",
         f"{lat['service_p50_ms']:.1f} / {lat['service_p99_ms']:.1f} ms", "-", "-", "-"),
    ]


def _cpu_rows(http: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Server CPU per request: what one dedicated core would give, less moved by other load."""
    cpu = http.get("cpu_us_per_request")
    if not cpu:
        return []
    return [
        (f"{name} server CPU per request", f"{cpu[key]:,.0f} us", f"hello {cpu['hello']:,.0f} us",
         f"{cpu['hello'] / cpu[key]:.2f}", target)
        for name, key, target in (("status poll", "poll", ">= 0.6 (CPU basis)"),
                                  ("join", "join", ">= 0.3 (CPU basis)"))
    ]


def table(result: dict[str, Any]) -> str:
    head = ("figure", "value", "baseline", "ratio", "target")
    body = rows(result)
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    lines = ["| figure | value | baseline | ratio | target |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows(result)]
    return "\n".join(lines)


def run(quick: bool, out: Path | None = None, *, http_only: bool = False,
        rounds: int | None = None) -> dict[str, Any]:
    """Run the benchmark, write its JSON and return it (``problems`` lists failures)."""
    plan = QUICK if quick else FULL
    if rounds:
        plan = replace(plan, rounds=rounds)
    out = out or RESULTS / ("waitingroom-quick.json" if quick else "waitingroom.json")
    install_uvloop()
    started = time.perf_counter()
    with procs.stack(need_postgres=False) as stack, tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(bench(stack, plan, Path(tmp), http_only=http_only))
        info = asyncio.run(_redis_version(stack.backends.redis_url or ""))
    result.update({
        "benchmark": "waitingroom",
        "command": "python -m bench.waitingroom" + (" --quick" if quick else "")
                   + (" --http-only" if http_only else ""),
        "machine": machine(info),
        "plan": asdict(plan),
        "targets": TARGETS,
        "elapsed_s": time.perf_counter() - started,
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


async def _redis_version(url: str) -> str:
    r = aioredis.from_url(url)
    try:
        return str((await r.info("server"))["redis_version"])
    finally:
        await r.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 40 s)")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default bench/results/waitingroom.json, or "
                             "waitingroom-quick.json with --quick)")
    parser.add_argument("--http-only", action="store_true",
                        help="only the wrk ratios (hello, poll, join, raw Redis); prints them "
                             "and writes no results file unless --json is given")
    parser.add_argument("--rounds", type=int, default=None, help="alternated wrk rounds")
    args = parser.parse_args(argv)
    if args.http_only:
        out = args.json or Path(tempfile.gettempdir()) / "waitingroom-http.json"
        result = run(args.quick, out, http_only=True, rounds=args.rounds)
        http = result["results"]["http"]
        print(json.dumps({k: http[k] for k in (
            "median_rps", "poll_vs_hello_rounds", "join_vs_hello_rounds", "poll_vs_hello",
            "join_vs_hello", "join_vs_redis", "cpu_us_per_request", "poll_vs_hello_cpu",
            "join_vs_hello_cpu")}, indent=1))
        for problem in result["problems"]:
            print(f"CORRECTNESS FAILURE: {problem}", file=sys.stderr)
        return 1 if result["problems"] else 0
    result = run(args.quick, args.json, rounds=args.rounds)
    print(table(result))
    print(f"command: {result['command']}  ({result['elapsed_s']:.0f} s)")
    for problem in result["problems"]:
        print(f"CORRECTNESS FAILURE: {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
