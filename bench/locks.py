"""Lock strategies for a hot seat, side by side on one workload straight against PostgreSQL.

Every round puts a fresh set of 20 seats on sale and lets a crowd of buyers at them at once
(the same concurrency and pool size as ``bench.holds``). Each buyer wants one seat: the
strategies that name a seat pick one of the 20 at random and, when it is gone or busy, try
another (up to ``TRIES`` times); SKIP LOCKED and the Redis counter hand out whichever seat is
left. Strategies take turns round by round, so each sees the same drift of a shared machine.

* ``for_update``: ``SELECT ... FOR UPDATE`` waits for the row lock (the app's choice), under the
  app's lock_timeout;
* ``nowait``: ``FOR UPDATE NOWAIT`` fails at once when the row is locked;
* ``skip_locked``: take the first free seat nobody has locked (``SKIP LOCKED``);
* ``optimistic``: read the seat's version, then one ``UPDATE ... WHERE version = $v``; a lost
  race re-reads and retries;
* ``redis``: ``DECR`` a stock counter in Redis picks the winners; each win is queued in Redis
  and written back to PostgreSQL in batches.

The sales table has no unique constraint, so a double sale shows up as two rows instead of
being stopped by the schema. Correctness per round: exactly 20 seats sold, 20 sales, no seat
sold twice, and (redis) the write-back finished; any failure exits non-zero.

    python -m bench.locks [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from asyncpg.exceptions import LockNotAvailableError
from redis.exceptions import MaxConnectionsError

from fairgate.web import install_uvloop

from . import procs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHART = ROOT / "docs" / "img" / "locks.png"
STRATEGIES = ("for_update", "nowait", "skip_locked", "optimistic", "redis")
CONCURRENCY = 32
POOL_SIZE = 16
CAPACITY = 20
# A buyer whose seat was gone or busy picks another seat, this many tries in all.
TRIES = 3
# The ticketing app's TK_LOCK_TIMEOUT_MS default.
LOCK_TIMEOUT_MS = 2000
# Write-back: how many queued wins one PostgreSQL transaction writes, and how often it looks.
WRITEBACK_BATCH = 100
WRITEBACK_EVERY_S = 0.005
# The buyers' Redis pool: wait this long for a free connection, and ask again this many times
# if redis-py still reports the pool full (the command was not sent).
POOL_WAIT_S = 30.0
POOL_RETRIES = 5


@dataclass(frozen=True)
class Plan:
    rounds: int
    buyers: int


QUICK = Plan(rounds=3, buyers=400)
FULL = Plan(rounds=8, buyers=600)

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS lockbench;
CREATE TABLE IF NOT EXISTS lockbench.seats (
    id      bigserial PRIMARY KEY,
    round   text NOT NULL,
    status  text NOT NULL DEFAULT 'free' CHECK (status IN ('free', 'sold')),
    buyer   text,
    version integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS seats_round ON lockbench.seats (round, status, id);
-- Deliberately no UNIQUE (seat_id): a double sale must be counted, not refused.
CREATE TABLE IF NOT EXISTS lockbench.sales (
    seat_id bigint NOT NULL REFERENCES lockbench.seats (id),
    buyer   text NOT NULL,
    sold_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS sales_seat ON lockbench.sales (seat_id);
"""

NEW_ROUND = """
INSERT INTO lockbench.seats (round) SELECT $1 FROM generate_series(1, $2) RETURNING id
"""
SELL = "UPDATE lockbench.seats SET status = 'sold', buyer = $2 WHERE id = $1"
RECORD_SALE = "INSERT INTO lockbench.sales (seat_id, buyer) VALUES ($1, $2)"
LOCK_WAIT = "SELECT status FROM lockbench.seats WHERE id = $1 FOR UPDATE"
LOCK_NOWAIT = "SELECT status FROM lockbench.seats WHERE id = $1 FOR UPDATE NOWAIT"
PICK_SKIP_LOCKED = """
SELECT id FROM lockbench.seats WHERE round = $1 AND status = 'free'
ORDER BY id LIMIT 1
FOR UPDATE SKIP LOCKED
"""
READ_VERSION = "SELECT status, version FROM lockbench.seats WHERE id = $1"
# One statement, one implicit transaction: the sale happens only if nobody sold the seat since
# the version was read.
SELL_IF_VERSION = """
WITH sold AS (
    UPDATE lockbench.seats SET status = 'sold', buyer = $2, version = version + 1
    WHERE id = $1 AND version = $3 AND status = 'free'
    RETURNING id
)
INSERT INTO lockbench.sales (seat_id, buyer) SELECT id, $2 FROM sold RETURNING seat_id
"""
WRITE_BACK = """
WITH won AS (
    SELECT * FROM unnest($1::bigint[], $2::text[]) AS w(seat_id, buyer)
), sold AS (
    UPDATE lockbench.seats s SET status = 'sold', buyer = won.buyer
    FROM won WHERE s.id = won.seat_id
)
INSERT INTO lockbench.sales (seat_id, buyer) SELECT seat_id, buyer FROM won
"""
CHECK = """
SELECT
  (SELECT count(*) FROM lockbench.seats WHERE round = $1 AND status = 'sold') AS sold,
  (SELECT count(*) FROM lockbench.sales sa JOIN lockbench.seats s ON s.id = sa.seat_id
    WHERE s.round = $1) AS sales,
  (SELECT count(*) FROM (SELECT sa.seat_id FROM lockbench.sales sa
     JOIN lockbench.seats s ON s.id = sa.seat_id WHERE s.round = $1
     GROUP BY sa.seat_id HAVING count(*) > 1) d) AS sold_twice,
  (SELECT count(*) FROM lockbench.seats s WHERE s.round = $1 AND s.status = 'sold'
     AND s.buyer IS DISTINCT FROM (SELECT sa.buyer FROM lockbench.sales sa
                                   WHERE sa.seat_id = s.id LIMIT 1)) AS buyer_mismatch
"""


# -- one round ------------------------------------------------------------------------------
@dataclass
class Round:
    strategy: str
    name: str
    seat_ids: list[int]
    buyers: int
    elapsed_s: float = 0.0
    sold_out_s: float | None = None
    writeback_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    writeback_batches: int = 0
    wins: int = 0
    check: dict[str, int] = field(default_factory=dict)
    started: float = 0.0

    def won(self) -> None:
        self.wins += 1
        if self.wins == len(self.seat_ids):
            self.sold_out_s = time.perf_counter() - self.started


# Each attempt answers "won", "gone" (the seat is sold), or "busy"/"conflict" (someone else was
# at it right then: try another seat).
Attempt = Callable[[str, int], Awaitable[str]]


def pg_attempts(pool: asyncpg.Pool, rnd: Round) -> dict[str, Attempt]:
    async def for_update(buyer: str, seat: int) -> str:
        async with pool.acquire() as conn, conn.transaction():
            rnd.transactions += 1
            if await conn.fetchval(LOCK_WAIT, seat) != "free":
                return "gone"
            await conn.execute(SELL, seat, buyer)
            await conn.execute(RECORD_SALE, seat, buyer)
            return "won"

    async def nowait(buyer: str, seat: int) -> str:
        try:
            async with pool.acquire() as conn, conn.transaction():
                rnd.transactions += 1
                if await conn.fetchval(LOCK_NOWAIT, seat) != "free":
                    return "gone"
                await conn.execute(SELL, seat, buyer)
                await conn.execute(RECORD_SALE, seat, buyer)
                return "won"
        except LockNotAvailableError:
            return "busy"

    async def skip_locked(buyer: str, _seat: int) -> str:
        async with pool.acquire() as conn, conn.transaction():
            rnd.transactions += 1
            seat = await conn.fetchval(PICK_SKIP_LOCKED, rnd.name)
            if seat is None:
                return "gone"
            await conn.execute(SELL, seat, buyer)
            await conn.execute(RECORD_SALE, seat, buyer)
            return "won"

    async def optimistic(buyer: str, seat: int) -> str:
        async with pool.acquire() as conn:
            rnd.transactions += 2
            row = await conn.fetchrow(READ_VERSION, seat)
            if row["status"] != "free":
                return "gone"
            sold = await conn.fetchval(SELL_IF_VERSION, seat, buyer, row["version"])
            return "won" if sold is not None else "conflict"

    return {"for_update": for_update, "nowait": nowait, "skip_locked": skip_locked,
            "optimistic": optimistic}


class WriteBack:
    """Drains the Redis queue of wins into PostgreSQL, a batch per transaction."""

    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool, queue: str) -> None:
        self.redis = redis
        self.pool = pool
        self.queue = queue
        self.written = 0
        self.batches = 0

    async def drain_once(self) -> int:
        items = await self.redis.lpop(self.queue, WRITEBACK_BATCH)
        if not items:
            return 0
        seats, buyers = zip(*(item.split(":", 1) for item in items), strict=True)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(WRITE_BACK, [int(s) for s in seats], list(buyers))
        self.written += len(items)
        self.batches += 1
        return len(items)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self.drain_once():
                await asyncio.sleep(WRITEBACK_EVERY_S)
        while await self.drain_once():
            pass


async def _sent(command: Callable[[], Awaitable[Any]]) -> Any:
    """A Redis command, sent again when no pooled connection could be had: such a command
    never left, so sending it again cannot take a second unit of stock."""
    for _ in range(POOL_RETRIES):
        try:
            return await command()
        except MaxConnectionsError:
            await asyncio.sleep(0.01)
    return await command()


def redis_attempt(redis: aioredis.Redis, rnd: Round, stock: str, queue: str) -> Attempt:
    async def attempt(buyer: str, _seat: int) -> str:
        left = int(await _sent(lambda: redis.decr(stock)))
        if left < 0:
            return "gone"
        # Each DECR result is handed out once, so it names the seat this winner gets.
        await _sent(lambda: redis.rpush(queue, f"{rnd.seat_ids[left]}:{buyer}"))
        return "won"

    return attempt


async def run_round(rnd: Round, attempt: Attempt, picks_one: bool, rng: random.Random,
                    concurrency: int) -> None:
    buyers = iter(range(rnd.buyers))
    plans = [[rng.choice(rnd.seat_ids) for _ in range(TRIES)] for _ in range(rnd.buyers)]

    async def worker() -> None:
        for b in buyers:
            buyer = f"b{b}"
            t0 = time.perf_counter()
            outcome = "gone"
            for seat in plans[b][: 1 if picks_one else TRIES]:
                outcome = await attempt(buyer, seat)
                if outcome == "won":
                    rnd.won()
                    break
                if outcome != "gone":
                    rnd.events[outcome] += 1
            rnd.latencies_ms.append((time.perf_counter() - t0) * 1000)
            rnd.outcomes[outcome] += 1

    rnd.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rnd.elapsed_s = time.perf_counter() - rnd.started


# -- the run --------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summarize(rounds: list[Round]) -> dict[str, Any]:
    lat = [x for r in rounds for x in r.latencies_ms]
    outcomes: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for r in rounds:
        outcomes.update(r.outcomes)
        events.update(r.events)
    sold_out = [r.sold_out_s for r in rounds if r.sold_out_s is not None]
    return {
        "buyers_per_s": statistics.median(r.buyers / r.elapsed_s for r in rounds),
        "transactions_per_s": statistics.median(r.transactions / r.elapsed_s for r in rounds),
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "sold_out_ms": statistics.median(sold_out) * 1000 if sold_out else None,
        "writeback_ms": statistics.median(r.writeback_s for r in rounds) * 1000,
        "writeback_batches": sum(r.writeback_batches for r in rounds),
        "buyers": sum(r.buyers for r in rounds),
        "outcomes": dict(sorted(outcomes.items())),
        "errors": dict(sorted(events.items())),
        "sold": [r.check["sold"] for r in rounds],
        "sold_twice": sum(r.check["sold_twice"] for r in rounds),
        "correct": all(r.check["ok"] for r in rounds),
    }


async def check_round(db: asyncpg.Pool, rnd: Round) -> list[str]:
    row = await db.fetchrow(CHECK, rnd.name)
    problems = []
    if row["sold"] != CAPACITY or row["sales"] != CAPACITY:
        problems.append(f"sold {row['sold']} seats in {row['sales']} sales, capacity {CAPACITY}")
    if row["sold_twice"]:
        problems.append(f"{row['sold_twice']} seats sold twice")
    if row["buyer_mismatch"]:
        problems.append(f"{row['buyer_mismatch']} seats name another buyer than their sale")
    if rnd.wins != CAPACITY:
        problems.append(f"{rnd.wins} buyers were told they won, capacity {CAPACITY}")
    rnd.check = {**dict(row), "ok": not problems}
    return [f"{rnd.strategy} round {rnd.name}: {p}" for p in problems]


async def bench(stack: procs.Stack, plan: Plan, concurrency: int, pool_size: int,
                strategies: list[str]) -> dict[str, Any]:
    db = await asyncpg.create_pool(
        stack.backends.database_url, min_size=pool_size, max_size=pool_size,
        server_settings={"lock_timeout": f"{LOCK_TIMEOUT_MS}ms"},
    )
    # A blocking pool: like asyncpg's, a buyer beyond pool_size waits for a connection (up
    # to POOL_WAIT_S). The write-back has a connection of its own, so it never takes one from
    # the buyers nor waits behind them.
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        stack.backends.redis_url, decode_responses=True, max_connections=pool_size,
        timeout=POOL_WAIT_S))
    writer_redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        stack.backends.redis_url, decode_responses=True, max_connections=1,
        timeout=POOL_WAIT_S))
    await db.execute(SCHEMA)
    rounds: dict[str, list[Round]] = {s: [] for s in strategies}
    problems: list[str] = []
    rng = random.Random(7)
    for i in range(-1, plan.rounds):  # round -1 warms every strategy up, unmeasured
        order = strategies if i % 2 == 0 else list(reversed(strategies))
        for strategy in order:
            name = f"{strategy}-{i}-{os.getpid()}"
            seat_ids = [r["id"] for r in await db.fetch(NEW_ROUND, name, CAPACITY)]
            rnd = Round(strategy, name, seat_ids, plan.buyers if i >= 0 else 100)
            if strategy == "redis":
                stock, queue = f"lockbench:{name}:stock", f"lockbench:{name}:writeback"
                await redis.set(stock, CAPACITY)
                writer = WriteBack(writer_redis, db, queue)
                stop = asyncio.Event()
                task = asyncio.create_task(writer.run(stop))
                await run_round(rnd, redis_attempt(redis, rnd, stock, queue), True, rng,
                                concurrency)
                t0 = time.perf_counter()
                stop.set()
                await task
                rnd.writeback_s = time.perf_counter() - t0
                rnd.writeback_batches = writer.batches
                await redis.delete(stock, queue)
            else:
                attempt = pg_attempts(db, rnd)[strategy]
                await run_round(rnd, attempt, strategy == "skip_locked", rng, concurrency)
            found = await check_round(db, rnd)
            if i >= 0:
                problems += found
                rounds[strategy].append(rnd)
                print(f"  round {i + 1} {strategy:11}: {rnd.buyers / rnd.elapsed_s:7.0f} "
                      f"buyers/s  {dict(rnd.outcomes)} {dict(rnd.events)}", file=sys.stderr)
    info = {
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "postgresql": await db.fetchval("SHOW server_version"),
        "redis": (await redis.info("server"))["redis_version"],
        "asyncpg": asyncpg.__version__,
        "platform": platform.platform(),
    }
    await redis.aclose()
    await writer_redis.aclose()
    await db.close()
    return {
        "benchmark": "locks",
        "machine": info,
        "config": {"concurrency": concurrency, "pool_size": pool_size, "capacity": CAPACITY,
                   "tries": TRIES, "lock_timeout_ms": LOCK_TIMEOUT_MS,
                   "rounds": plan.rounds, "buyers_per_round": plan.buyers},
        "results": {s: summarize(rs) for s, rs in rounds.items()},
        "problems": problems,
    }


# -- output ---------------------------------------------------------------------------------
LABELS = {
    "for_update": "FOR UPDATE (wait)",
    "nowait": "FOR UPDATE NOWAIT",
    "skip_locked": "SKIP LOCKED",
    "optimistic": "optimistic version",
    "redis": "Redis counter + write-back",
}


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| strategy | buyers/s | transactions/s | p50 ms | p99 ms | sold out after ms "
        "| outcomes | busy / conflict events | sold per round | sold twice |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for strategy, r in results.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())
        errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
        sold = "all 20" if set(r["sold"]) == {CAPACITY} else ", ".join(map(str, r["sold"]))
        sold_out = "-" if r["sold_out_ms"] is None else f"{r['sold_out_ms']:.0f}"
        # Redis answers buyers without PostgreSQL; its writes are the write-back batches.
        tx = (f"{r['writeback_batches']} write-back batches" if strategy == "redis"
              else f"{r['transactions_per_s']:.0f}")
        lines.append(
            f"| {LABELS[strategy]} | {r['buyers_per_s']:.0f} | {tx} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {sold_out} | {outcomes} | {errors} | "
            f"{sold} | {r['sold_twice']} |"
        )
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = result["results"]
    names = [LABELS[s] for s in results]
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"][: len(names)]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    panels = [
        ("buyers answered per second (higher is better)", "buyers_per_s", "{:.0f}"),
        ("p99 buyer latency, ms (lower is better)", "p99_ms", "{:.1f}"),
        ("time until all 20 seats sold, ms (lower is better)", "sold_out_ms", "{:.0f}"),
    ]
    for ax, (title, key, fmt) in zip(axes, panels, strict=True):
        values = [results[s][key] or 0 for s in results]
        bars = ax.barh(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=9)
        ax.set_xlim(0, max(values) * 1.25 if max(values) else 1)
        ax.tick_params(axis="y", labelsize=9)
        ax.grid(axis="x", alpha=0.3)
        if ax is not axes[0]:
            ax.set_yticklabels([])
    cfg = result["config"]
    fig.suptitle(
        f"{cfg['capacity']} hot seats, {cfg['buyers_per_round']} buyers per round at "
        f"concurrency {cfg['concurrency']}, pool {cfg['pool_size']}, median of "
        f"{cfg['rounds']} rounds ({result['machine']['nproc']} cores, PostgreSQL "
        f"{result['machine']['postgresql']}); every strategy sold exactly 20, none twice"
        if not result["problems"] else "correctness failures: see bench/results/locks.json",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three short rounds")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default bench/results/locks.json, or "
                             "locks-quick.json with --quick)")
    parser.add_argument("--chart", type=Path, default=None,
                        help=f"PNG chart (default {CHART.relative_to(ROOT)} for a full run)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--pool", type=int, default=POOL_SIZE)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    out = args.json or RESULTS / ("locks-quick.json" if args.quick else "locks.json")
    png = args.chart or (None if args.quick else CHART)
    install_uvloop()
    with procs.stack() as stack:
        result = asyncio.run(bench(stack, plan, args.concurrency, args.pool,
                                   args.strategies.split(",")))
    result["command"] = "python -m bench.locks" + (" --quick" if args.quick else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result["results"]))
    print(f"results: {out}")
    if png is not None:
        chart(result, png)
        print(f"chart: {png}")
    if result["problems"]:
        for problem in result["problems"]:
            print(f"CORRECTNESS FAILURE: {problem}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
