"""Hold+confirm through the ticketing app, against the same transactions in a raw asyncpg loop.

Both sides run in one process on the same machine, with the same number of concurrent buyers
and the same PostgreSQL pool size, on fresh events created through the admin API:

* raw: an asyncpg pool doing, per buyer, one hold transaction (``SELECT ... FOR UPDATE`` the
  seat rows, insert the hold, mark the seats held) and one confirm transaction (lock the hold,
  insert the booking and its seats, mark the seats sold), on the real schema;
* http: ``POST /api/events/{id}/holds`` then ``POST /api/holds/{id}/confirm`` against a real
  ``python -m ticketing serve`` process, each buyer with their own session (an admission token
  exchanged through ``POST /api/session`` before the clock starts).

Workloads: ``spread`` (every buyer takes two seats nobody else wants) and ``hot`` (every buyer
wants one of 20 seats: exactly 20 are sold, everyone else is refused). A pair is one buyer's
hold and, when the hold was granted, its confirm. The figure that counts is the ratio
http/raw (issue 6: at least 0.5). Any correctness failure exits non-zero.

    python -m bench.holds [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from fairgate.tokens import Signer
from fairgate.web import install_uvloop

from . import procs

RESULTS = Path(__file__).resolve().parent / "results"
CONCURRENCY = 32
POOL_SIZE = 16
# Seats in the hot workload: the whole crowd fights over these.
HOT_SEATS = 20
SPREAD_SEATS_PER_HOLD = 2
SEATS_PER_ROW = 100
PRICE = 5000
# A phase that runs longer than this stops early (the pairs done so far still count).
PHASE_CAP_S = 60.0


@dataclass(frozen=True)
class Plan:
    pairs: dict[str, int]
    rounds: int
    warmup_pairs: int


# Short phases, alternated side by side: on a shared machine the load of other processes drifts
# within seconds, and neighbouring phases see the same drift. Each round's ratio compares two
# neighbours; the reported ratio is the median over rounds.
QUICK = Plan(pairs={"spread": 1000, "hot": 2000}, rounds=2, warmup_pairs=200)
FULL = Plan(pairs={"spread": 1500, "hot": 3000}, rounds=6, warmup_pairs=400)


# -- the raw baseline: the same transactions, straight through asyncpg ----------------------
RAW_LOCK_SEATS = """
SELECT id, status FROM seats WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
"""
RAW_INSERT_HOLD = """
INSERT INTO holds (event_id, visitor, seat_ids, expires_at)
VALUES ($1, $2, $3::bigint[], now() + interval '300 seconds') RETURNING id
"""
RAW_MARK_HELD = """
UPDATE seats SET status = 'held', hold_id = $2, visitor = $3,
                 version = nextval('seat_version_seq')
WHERE id = ANY($1::bigint[])
"""
RAW_LOCK_HOLD = """
SELECT event_id, seat_ids FROM holds WHERE id = $1 AND status = 'active' FOR UPDATE
"""
RAW_INSERT_BOOKING = """
INSERT INTO bookings (event_id, visitor, hold_id, total)
SELECT $1, $2, $3, sum(price) FROM seats WHERE id = ANY($4::bigint[]) RETURNING id
"""
RAW_INSERT_BOOKING_SEATS = """
INSERT INTO booking_seats (booking_id, seat_id, price)
SELECT $1, id, price FROM seats WHERE id = ANY($2::bigint[])
"""
RAW_MARK_SOLD = """
UPDATE seats SET status = 'sold', hold_id = NULL, booking_id = $2,
                 version = nextval('seat_version_seq')
WHERE id = ANY($1::bigint[])
"""
RAW_HOLD_CONFIRMED = "UPDATE holds SET status = 'confirmed' WHERE id = $1"


class _Refused(Exception):
    pass


async def raw_pair(pool: asyncpg.Pool, event_id: int, visitor: str, seat_ids: list[int]) -> str:
    """One buyer through the raw loop; the outcome is labelled like the HTTP answer."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(RAW_LOCK_SEATS, seat_ids)
            if len(rows) != len(seat_ids) or any(r["status"] != "free" for r in rows):
                raise _Refused()
            hold_id = await conn.fetchval(RAW_INSERT_HOLD, event_id, visitor, seat_ids)
            await conn.execute(RAW_MARK_HELD, seat_ids, hold_id, visitor)
    except _Refused:
        return "409 seats_unavailable"
    async with pool.acquire() as conn, conn.transaction():
        hold = await conn.fetchrow(RAW_LOCK_HOLD, hold_id)
        booking_id = await conn.fetchval(RAW_INSERT_BOOKING, hold["event_id"], visitor, hold_id,
                                         hold["seat_ids"])
        await conn.execute(RAW_INSERT_BOOKING_SEATS, booking_id, seat_ids)
        await conn.execute(RAW_MARK_SOLD, seat_ids, booking_id)
        await conn.execute(RAW_HOLD_CONFIRMED, hold_id)
    return "201"


# -- the product: HTTP against a real ticketing process -------------------------------------
class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = "application/json"
        async with self.http.request(method, self.base + path, data=data, headers=h) as resp:
            raw = await resp.read()
            return resp.status, (json.loads(raw) if raw else None)


async def http_pair(client: Client, event_id: int, session: str, seat_ids: list[int]) -> str:
    """One buyer as the seat page does it: hold (with an Idempotency-Key), then confirm."""
    auth = {"Authorization": f"Bearer {session}"}
    status, body = await client.call("POST", f"/api/events/{event_id}/holds",
                                     {"seat_ids": seat_ids},
                                     {**auth, "Idempotency-Key": uuid.uuid4().hex})
    if status != 201:
        return f"{status} {(body or {}).get('error', '')}".strip()
    status, body = await client.call("POST", f"/api/holds/{body['hold_id']}/confirm",
                                     headers=auth)
    if status != 201:
        return f"confirm {status} {(body or {}).get('error', '')}".strip()
    return "201"


# -- events, sessions, picks ----------------------------------------------------------------
@dataclass
class Event:
    id: int
    room: str
    seat_ids: list[int]


async def create_event(client: Client, seats: int, limit: int = 4) -> Event:
    room = f"bench{secrets.token_hex(5)}"
    rows, per_row = (1, seats) if seats <= SEATS_PER_ROW else (
        -(-seats // SEATS_PER_ROW), SEATS_PER_ROW)
    sections = []
    left = rows
    for i in range(26):
        if left <= 0:
            break
        n = min(left, 100)
        sections.append({"name": chr(ord("A") + i), "rows": n, "seats_per_row": per_row,
                         "price": PRICE})
        left -= n
    status, body = await client.call(
        "POST", "/admin/api/events",
        {"name": f"Bench {room}", "room": room, "per_visitor_limit": limit,
         "hold_ttl_s": 300, "sections": sections},
        {"Authorization": f"Bearer {procs.ADMIN_TOKEN}"},
    )
    if status != 201:
        raise RuntimeError(f"create event: {status} {body}")
    return Event(body["id"], room, [])


async def load_seats(db: asyncpg.Pool, event: Event) -> None:
    rows = await db.fetch("SELECT id FROM seats WHERE event_id = $1 ORDER BY id", event.id)
    event.seat_ids = [r["id"] for r in rows]


def picks_for(workload: str, event: Event, n: int, seed: int) -> list[list[int]]:
    """The seats each buyer asks for; the same seed gives both sides the same sequence."""
    if workload == "spread":
        k = SPREAD_SEATS_PER_HOLD
        return [event.seat_ids[i * k:(i + 1) * k] for i in range(n)]
    rng = random.Random(seed)
    return [[rng.choice(event.seat_ids)] for _ in range(n)]


async def sessions_for(client: Client, signer: Signer, room: str, n: int) -> list[str]:
    """Exchange ``n`` admission tokens for sessions (setup, before the clock starts)."""
    out: list[str] = [""] * n
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            token = signer.admission(room, secrets.token_hex(16), i + 1, time.time() + 3600)
            status, body = await client.call("POST", "/api/session", {"token": token})
            if status != 200:
                raise RuntimeError(f"session exchange: {status} {body}")
            out[i] = body["session"]

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return out


# -- CPU time per process group -------------------------------------------------------------
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """CPU seconds of the load generator (this process), the app, and PostgreSQL's backends."""

    def __init__(self, app_pid: int | None, postmaster_pid: int | None) -> None:
        self.app_pid = app_pid
        self.postmaster_pid = postmaster_pid

    def sample(self) -> dict[str, float]:
        out = {"client": time.process_time()}
        if self.app_pid is not None:
            app = _stat(self.app_pid)
            out["app"] = app[1] if app else 0.0
        if self.postmaster_pid is not None:
            total = 0.0
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    st = _stat(int(entry))
                    if st and (st[0] == self.postmaster_pid or int(entry) == self.postmaster_pid):
                        total += st[1]
            out["postgres"] = total
        return out


# -- running a phase ------------------------------------------------------------------------
@dataclass
class Phase:
    side: str
    workload: str
    event_id: int
    pairs: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.elapsed_s if self.elapsed_s else 0.0


async def run_phase(phase: Phase, jobs: list[Callable[[], Awaitable[str]]],
                    concurrency: int, meter: CpuMeter | None = None) -> Phase:
    """``concurrency`` buyers at once until every job ran (or the cap is reached)."""
    queue = iter(jobs)
    before = meter.sample() if meter else {}
    started = time.perf_counter()
    deadline = started + PHASE_CAP_S

    async def worker() -> None:
        for job in queue:
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            try:
                outcome = await job()
            except (aiohttp.ClientError, asyncpg.PostgresError, OSError) as exc:
                outcome = f"exception {exc.__class__.__name__}"
            phase.latencies_ms.append((time.perf_counter() - t0) * 1000)
            phase.outcomes[outcome] += 1
            phase.pairs += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.elapsed_s = time.perf_counter() - started
    if meter:
        after = meter.sample()
        phase.cpu_s = {k: after[k] - before[k] for k in after}
    return phase


# -- correctness ----------------------------------------------------------------------------
CHECK_SQL = """
SELECT
  (SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'sold') AS sold,
  (SELECT count(*) FROM seats WHERE event_id = $1 AND status = 'held') AS held,
  (SELECT count(*) FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id
    WHERE b.event_id = $1 AND bs.live) AS booked,
  (SELECT count(DISTINCT bs.seat_id) FROM booking_seats bs JOIN bookings b
    ON b.id = bs.booking_id WHERE b.event_id = $1 AND bs.live) AS booked_distinct,
  (SELECT count(*) FROM bookings WHERE event_id = $1) AS bookings
"""


async def check(phase: Phase, client: Client, db: asyncpg.Pool, hot_capacity: int
                ) -> list[str]:
    """What is wrong with the event after the phase (empty when all is well)."""
    problems = []
    status, report = await client.call("GET", f"/admin/api/events/{phase.event_id}/report",
                                       headers={"Authorization": f"Bearer {procs.ADMIN_TOKEN}"})
    if status != 200:
        return [f"report answered {status}"]
    row = await db.fetchrow(CHECK_SQL, phase.event_id)
    granted = phase.outcomes.get("201", 0)
    seats_per = SPREAD_SEATS_PER_HOLD if phase.workload == "spread" else 1
    expected = granted * seats_per
    if phase.workload == "hot":
        expected = hot_capacity
        if granted != hot_capacity:
            problems.append(f"{granted} buyers got a seat, capacity is {hot_capacity}")
    else:
        failed = {k: v for k, v in phase.outcomes.items() if k != "201"}
        if failed:
            problems.append(f"spread seats were refused: {failed}")
    if not report["consistent"]:
        problems.append("admin report: not consistent")
    if report["seats"]["sold"] != expected or report["booked_seats"] != expected:
        problems.append(f"admin report: sold {report['seats']['sold']}, booked "
                        f"{report['booked_seats']}, expected {expected}")
    if not row["sold"] == row["booked"] == row["booked_distinct"] == expected:
        problems.append(f"SQL: sold {row['sold']}, live booking seats {row['booked']} "
                        f"({row['booked_distinct']} distinct), expected {expected}")
    if row["held"]:
        problems.append(f"SQL: {row['held']} seats left held")
    fivexx = sum(v for k, v in phase.outcomes.items()
                 if any(w.isdigit() and w.startswith("5") for w in k.split()))
    if fivexx:
        problems.append(f"{fivexx} answers were 5xx")
    if any(k.startswith("exception") for k in phase.outcomes):
        problems.append("client-side exceptions")
    return [f"{phase.side}/{phase.workload} event {phase.event_id}: {p}" for p in problems]


# -- reporting ------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(phases: list[Phase]) -> dict[str, Any]:
    rates = [p.pairs_per_s for p in phases]
    lat = [x for p in phases for x in p.latencies_ms]
    errors: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    for p in phases:
        errors.update({k: v for k, v in p.outcomes.items() if k != "201"})
        cpu.update(p.cpu_s)
    pairs = sum(p.pairs for p in phases)
    return {
        "pairs_per_s": statistics.median(rates),
        "pairs_per_s_rounds": [round(r, 1) for r in rates],
        "pairs": pairs,
        "granted": sum(p.outcomes.get("201", 0) for p in phases),
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "errors": dict(sorted(errors.items())),
        # CPU milliseconds per pair, by process group: what each pair costs the machine.
        "cpu_ms_per_pair": {k: round(v * 1000 / pairs, 3) for k, v in sorted(cpu.items())},
    }


def round_ratios(phases: dict[str, list[Phase]]) -> list[float]:
    """http/raw of each round: two phases that ran one right after the other."""
    return [h.pairs_per_s / r.pairs_per_s
            for r, h in zip(phases["raw"], phases["http"], strict=True) if r.pairs_per_s]


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| workload | side | pairs/s | p50 ms | p99 ms | pairs | granted | errors by status "
        "| CPU ms/pair (client / app / postgres) | http/raw |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for workload, sides in results.items():
        for name in ("raw", "http"):
            s = sides.get(name)
            if s is None:
                continue
            errors = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "none"
            cpu = s["cpu_ms_per_pair"]
            cpu_text = " / ".join(f"{cpu[k]:.2f}" if k in cpu else "-"
                                  for k in ("client", "app", "postgres"))
            ratio = sides.get("ratio") if name == "http" else None
            lines.append(
                f"| {workload} | {name} | {s['pairs_per_s']:.0f} | {s['p50_ms']:.1f} | "
                f"{s['p99_ms']:.1f} | {s['pairs']} | {s['granted']} | {errors} | {cpu_text} | "
                f"{'' if ratio is None else f'{ratio:.2f}'} |"
            )
    return "\n".join(lines)


async def machine(db: asyncpg.Pool) -> dict[str, Any]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "postgresql": await db.fetchval("SHOW server_version"),
        "asyncpg": asyncpg.__version__,
        "aiohttp": aiohttp.__version__,
        "platform": platform.platform(),
    }


# -- the run --------------------------------------------------------------------------------
async def bench(stack: procs.Stack, plan: Plan, concurrency: int, pool_size: int,
                workloads: list[str], sides: list[str]) -> dict[str, Any]:
    stub = stack.start("waitingroom-stub", "bench.hello", serve=False)
    tk = stack.start("ticketing", "ticketing", env={
        "PG_POOL_MIN": str(pool_size), "PG_POOL_MAX": str(pool_size),
        "WAITINGROOM_URL": stub.url,
    })
    signer = Signer([k for k in procs.SECRET_KEYS.split(",") if k])
    postgres = stack.backends.postgres
    meter = CpuMeter(tk.popen.pid, postgres.pid if postgres is not None else None)
    db = await asyncpg.create_pool(stack.backends.database_url, min_size=pool_size,
                                   max_size=pool_size)
    connector = aiohttp.TCPConnector(limit=concurrency * 2, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        client = Client(http, tk.url)

        async def prepare(workload: str, side: str, n: int, seed: int
                          ) -> tuple[Phase, list[Callable[[], Awaitable[str]]]]:
            seats = HOT_SEATS if workload == "hot" else n * SPREAD_SEATS_PER_HOLD
            event = await create_event(client, seats)
            await load_seats(db, event)
            picks = picks_for(workload, event, n, seed)
            phase = Phase(side, workload, event.id)
            if side == "raw":
                visitors = [secrets.token_hex(16) for _ in range(n)]
                return phase, [
                    (lambda v=v, p=p: raw_pair(db, event.id, v, p))
                    for v, p in zip(visitors, picks, strict=True)
                ]
            tokens = await sessions_for(client, signer, event.room, n)
            return phase, [
                (lambda s=s, p=p: http_pair(client, event.id, s, p))
                for s, p in zip(tokens, picks, strict=True)
            ]

        for side in sides:  # warm both sides up: prepared statements, pools, code paths
            phase, jobs = await prepare("spread", side, plan.warmup_pairs, 0)
            await run_phase(phase, jobs, concurrency)

        phases: dict[str, dict[str, list[Phase]]] = {w: {s: [] for s in sides}
                                                      for w in workloads}
        problems: list[str] = []
        for rnd in range(plan.rounds):
            for workload in workloads:
                # Alternate which side goes first, so neither always gets the quieter moment.
                order = sides if rnd % 2 == 0 else list(reversed(sides))
                for side in order:
                    phase, jobs = await prepare(workload, side, plan.pairs[workload], rnd + 1)
                    await run_phase(phase, jobs, concurrency, meter)
                    problems += await check(phase, client, db, HOT_SEATS)
                    phases[workload][side].append(phase)
                    cpu = " ".join(f"{k} {v * 1000 / max(phase.pairs, 1):.2f}"
                                   for k, v in phase.cpu_s.items())
                    print(f"  round {rnd + 1} {workload:6} {side:4}: "
                          f"{phase.pairs_per_s:7.0f} pairs/s  CPU ms/pair: {cpu}  "
                          f"{dict(phase.outcomes)}", file=sys.stderr)
        results: dict[str, dict[str, Any]] = {}
        for workload, by_side in phases.items():
            results[workload] = {side: summarize(ps) for side, ps in by_side.items()}
            if "raw" in by_side and "http" in by_side:
                ratios = round_ratios(by_side)
                results[workload]["ratio"] = statistics.median(ratios)
                results[workload]["ratio_rounds"] = [round(r, 3) for r in ratios]
        info = await machine(db)
    await db.close()
    return {
        "benchmark": "holds",
        "machine": info,
        "config": {"concurrency": concurrency, "pool_size": pool_size,
                   "plan": asdict(plan), "hot_seats": HOT_SEATS,
                   "spread_seats_per_hold": SPREAD_SEATS_PER_HOLD},
        "results": results,
        "target_ratio": 0.5,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (under a minute)")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default bench/results/holds.json, or "
                             "holds-quick.json with --quick)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--pool", type=int, default=POOL_SIZE)
    parser.add_argument("--workloads", default="spread,hot")
    parser.add_argument("--sides", default="raw,http")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.json or RESULTS / ("holds-quick.json" if args.quick else "holds.json")
    install_uvloop()
    with procs.stack() as stack:
        result = asyncio.run(bench(stack, plan, args.concurrency, args.pool,
                                   args.workloads.split(","), args.sides.split(",")))
    result["command"] = "python -m bench.holds" + (" --quick" if args.quick else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result["results"]))
    for workload, sides in result["results"].items():
        if "ratio" in sides:
            verdict = "meets" if sides["ratio"] >= result["target_ratio"] else "misses"
            print(f"{workload}: http/raw = {sides['ratio']:.2f}, median of rounds "
                  f"{sides['ratio_rounds']} ({verdict} the 0.5 target)")
    print(f"results: {out}")
    if result["problems"]:
        for problem in result["problems"]:
            print(f"CORRECTNESS FAILURE: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
