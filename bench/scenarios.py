"""Scenarios of real ticket sales against the whole stack, each checked for correctness.

    python -m bench.scenarios [--quick] [--json PATH] [NAME ...]

Starts embedded Redis and PostgreSQL, the waiting room, the ticketing app (told the waiting
room's real URL) and the hello-world baseline, creates a room and an event per scenario through
the admin APIs (room ``target_url`` = ``{ticketing}/enter``), runs locust headless on
``bench/locustfile.py`` and checks:

* seats sold <= capacity and sold == booked (``GET /admin/api/events/{e}/report``);
* no 5xx answer;
* no FIFO inversion in admission (each admitted visitor's number against the admission tick
  carried in its token);
* the measured admission rate within 5% of the knob (the waiting room's per-tick admission log,
  read while the queue stays longer than a tick's worth);
* for write-only holds, every 201 is a held seat in the report.

Scenarios: ``flash`` (a ramp of arrivals, join, poll, buy 1-4 seats), ``hall`` (a small hall,
everyone polling every second), ``storm`` (admitted buyers all holding seats of one section at
once) and the level tests ``static``, ``hello``, ``seatmap``, ``holds``, ``mixed``. Exits
non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from fairgate.tokens import Signer
from waitingroom import keys

from . import procs

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
LOCUSTFILE = BENCH_DIR / "locustfile.py"
ADMIN = {"Authorization": f"Bearer {procs.ADMIN_TOKEN}"}
SESSION_TTL_S = 600
RATE_TOLERANCE = 0.05
# Fewer ticks than this in the measured window and the admission rate is not judged.
MIN_TICKS = 5
LEVELS = ("static", "hello", "seatmap", "holds", "mixed")
NAMES = ("flash", "hall", "storm", *LEVELS)
# The quick run keeps one of each kind: the queue, the storm, a baseline and a write level.
QUICK_NAMES = ("flash", "storm", "holds")


@dataclass(frozen=True)
class Scale:
    # flash sale: arrivals per second rising from ramp[0] to ramp[1] over ramp[2] seconds
    flash_ramp: tuple[float, float, float]
    flash_s: float
    flash_rate: int  # admit_per_minute
    # small hall
    hall_visitors: int
    hall_seats: int
    hall_rate: int
    hall_s: float
    # booking storm
    storm_buyers: int
    storm_section: int  # seats in the contested section
    storm_s: float
    # level tests
    level_users: int
    level_s: float


QUICK = Scale(flash_ramp=(10, 40, 8), flash_s=12, flash_rate=600,
              hall_visitors=400, hall_seats=80, hall_rate=1200, hall_s=20,
              storm_buyers=120, storm_section=40, storm_s=6,
              level_users=20, level_s=3)
# The flash sale is 90,000 visitors over 5 minutes arriving at 100 -> 500 per second
# for 10,000 seats; here the rates are a fifth and the ramp lasts 50 s (3,000 visitors), with
# seats in the same proportion (one for every nine visitors).
FULL = Scale(flash_ramp=(20, 100, 50), flash_s=75, flash_rate=1200,
             hall_visitors=2500, hall_seats=500, hall_rate=3000, hall_s=45,
             storm_buyers=400, storm_section=100, storm_s=12,
             level_users=32, level_s=8)


@dataclass
class Ctx:
    stack: procs.Stack
    http: aiohttp.ClientSession
    redis: aioredis.Redis
    wr: str
    tk: str
    hello: str
    tmp: Path
    signer: Signer = field(default_factory=lambda: Signer([procs.SECRET_KEYS]))


# -- setup through the admin APIs -----------------------------------------------------------
async def call(ctx: Ctx, method: str, url: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with ctx.http.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def create_sale(ctx: Ctx, name: str, sections: list[dict[str, Any]], *, rate: int,
                      limit: int = 4) -> tuple[str, int]:
    room = f"{name}-{secrets.token_hex(3)}"
    status, body = await call(ctx, "PUT", f"{ctx.wr}/admin/api/rooms/{room}", {
        "target_url": f"{ctx.tk}/enter", "admit_per_minute": rate, "max_active": 1_000_000,
        "session_ttl": SESSION_TTL_S, "state": "open"}, ADMIN)
    if status not in (200, 201):
        raise RuntimeError(f"create room: {status} {body}")
    status, body = await call(ctx, "POST", f"{ctx.tk}/admin/api/events", {
        "name": f"Bench {name}", "room": room, "per_visitor_limit": limit, "hold_ttl_s": 300,
        "sections": sections}, ADMIN)
    if status != 201:
        raise RuntimeError(f"create event: {status} {body}")
    return room, int(body["id"])


async def sessions(ctx: Ctx, room: str, n: int) -> list[str]:
    """Sessions of ``n`` admitted buyers: admission tokens signed with the shared keys and
    exchanged at ``POST /api/session`` (setup for tests that start after the queue)."""
    out: list[str] = []
    numbers = iter(range(1, n + 1))

    async def worker() -> None:
        for i in numbers:
            token = ctx.signer.admission(room, secrets.token_hex(16), i, time.time() + 3600)
            status, body = await call(ctx, "POST", f"{ctx.tk}/api/session", {"token": token})
            if status != 200:
                raise RuntimeError(f"session: {status} {body}")
            out.append(body["session"])

    await asyncio.gather(*(worker() for _ in range(16)))
    return out


async def seat_ids(ctx: Ctx, event: int, session: str, section: str | None = None) -> list[int]:
    status, body = await call(ctx, "GET", f"{ctx.tk}/api/events/{event}/seats",
                              headers={"Authorization": f"Bearer {session}"})
    if status != 200:
        raise RuntimeError(f"seat map: {status} {body}")
    return [s["id"] for s in body["seats"] if section is None or s["section"] == section]


async def report(ctx: Ctx, event: int) -> dict[str, Any]:
    status, body = await call(ctx, "GET", f"{ctx.tk}/admin/api/events/{event}/report",
                              headers=ADMIN)
    if status != 200:
        raise RuntimeError(f"report: {status} {body}")
    return body


def sections_for(seats: int, name: str = "A") -> list[dict[str, Any]]:
    """One section of exactly ``seats`` seats (up to 100 rows of up to 100)."""
    per_row = next(n for n in range(min(100, seats), 0, -1)
                   if seats % n == 0 and seats // n <= 100)
    return [{"name": name, "rows": seats // per_row, "seats_per_row": per_row, "price": 5000}]


# -- locust --
def run_locust(ctx: Ctx, name: str, user_class: str, env: dict[str, str], *, users: int,
               spawn_rate: float, seconds: float) -> dict[str, Any]:
    prefix = ctx.tmp / name
    record = ctx.tmp / f"{name}-record.json"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
           "-u", str(users), "-r", str(spawn_rate), "-t", f"{max(1, round(seconds))}s",
           "--host", ctx.wr, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5",
           "--loglevel", "ERROR", user_class]
    full_env = {**os.environ, "BENCH_WR_URL": ctx.wr, "BENCH_TK_URL": ctx.tk,
                "BENCH_HELLO_URL": ctx.hello, "BENCH_SECRET_KEYS": procs.SECRET_KEYS,
                "BENCH_RECORD": str(record), **env}
    started = time.time()
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True,
                         timeout=seconds + 120)
    if not Path(f"{prefix}_stats.csv").exists() or not record.exists():
        raise RuntimeError(f"locust {name} failed ({out.returncode}): {out.stderr[-2000:]}")
    stats = read_stats(Path(f"{prefix}_stats.csv"))
    return {"stats": stats, "record": json.loads(record.read_text()), "started": started,
            "history": read_history(Path(f"{prefix}_stats_history.csv"), started)}


def _num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def read_stats(path: Path) -> dict[str, dict[str, float]]:
    out = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            out[row["Name"]] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": _num(row["Requests/s"]), "p50_ms": _num(row["50%"]),
                "p95_ms": _num(row["95%"]), "p99_ms": _num(row["99%"]),
            }
    return out


def read_history(path: Path, started: float) -> list[dict[str, float]]:
    if not path.exists():
        return []
    out = []
    with open(path) as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                out.append({"t": _num(row["Timestamp"]) - started,
                            "rps": _num(row["Requests/s"]), "p95_ms": _num(row["95%"])})
    return out


# -- admission log --
async def watch_room(ctx: Ctx, room: str, stop: asyncio.Event) -> dict[str, Any]:
    """The room's per-tick admission log (kept 60 s by the waiting room, read every second)
    and its queue length."""
    k = keys.RoomKeys(room)
    ticks: dict[str, float] = {}
    queue: list[tuple[float, int]] = []
    while True:
        async with ctx.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(k.admlog, 0, -1)
            pipe.zcard(k.queue)
            entries, length = await pipe.execute()
        queue.append((time.time(), int(length)))
        for entry in entries:
            ts, _, count = entry.rpartition(":")
            ticks[ts] = int(count)
        if stop.is_set():
            break
        await asyncio.sleep(1.0)
    return {"ticks": sorted((float(t), c) for t, c in ticks.items()), "queue": queue}


def admission_rate(watch: dict[str, Any], knob: int) -> dict[str, Any]:
    """Admissions per minute over the ticks while the queue held more than a tick's worth:
    the clock starts at the first such tick and that tick's admissions are not counted."""
    per_tick = max(1.0, knob / 60 * 2)
    full = [t for t, n in watch["queue"] if n > per_tick]
    ticks = [(t, c) for t, c in watch["ticks"]]
    if not full or not ticks:
        return {"measured_per_minute": None, "ticks": 0}
    first_full = min(full)
    last_full = max(full)
    window = [(t, c) for t, c in ticks if first_full <= t <= last_full]
    if len(window) < MIN_TICKS:
        return {"measured_per_minute": None, "ticks": len(window)}
    span = window[-1][0] - window[0][0]
    admitted = sum(c for _, c in window[1:])
    measured = admitted * 60 / span
    return {"measured_per_minute": measured, "knob": knob, "ticks": len(window),
            "window_s": span, "ratio": measured / knob}


def fifo_inversions(admissions: list[list[float]]) -> tuple[int, int]:
    """(inversions, duplicate numbers): someone admitted at a later tick than a higher
    number is an inversion."""
    by_number: dict[int, float] = {}
    duplicates = 0
    for number, expires_at, *_ in admissions:
        if int(number) in by_number:
            duplicates += 1
        by_number[int(number)] = expires_at
    inversions = 0
    latest = float("-inf")
    for number in sorted(by_number):
        if by_number[number] < latest - 1e-6:
            inversions += 1
        latest = max(latest, by_number[number])
    return inversions, duplicates


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- checks --
def status_checks(run: dict[str, Any]) -> tuple[dict[str, int], list[str]]:
    statuses: dict[str, int] = run["record"]["statuses"]
    fives = {k: v for k, v in statuses.items() if int(k.rsplit(" ", 1)[1]) >= 500}
    problems = [f"{v} answers '{k}'" for k, v in fives.items()]
    return statuses, problems


def sale_checks(rep: dict[str, Any], capacity: int) -> list[str]:
    problems = []
    seats = rep["seats"]
    if seats["sold"] > capacity:
        problems.append(f"oversold: {seats['sold']} sold of {capacity}")
    if seats["sold"] != rep["booked_seats"]:
        problems.append(f"sold {seats['sold']} != booked {rep['booked_seats']}")
    if not rep.get("consistent", True):
        problems.append("ticketing report says inconsistent")
    return problems


def summary(run: dict[str, Any]) -> dict[str, Any]:
    agg = run["stats"].get("Aggregated", {})
    return {"rps": agg.get("rps"), "p50_ms": agg.get("p50_ms"), "p95_ms": agg.get("p95_ms"),
            "p99_ms": agg.get("p99_ms"), "requests": agg.get("requests"),
            "by_request": {k: v for k, v in run["stats"].items() if k != "Aggregated"}}


# -- scenarios --
async def queue_sale(ctx: Ctx, name: str, *, seats: int, rate: int, users: int,
                     spawn_rate: float, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    """A crowd through the queue to the seats (flash sale, small hall)."""
    room, event = await create_sale(ctx, name, sections_for(seats), rate=rate)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_room(ctx, room, stop))
    run = await asyncio.to_thread(
        run_locust, ctx, name, "Visitor", {"BENCH_ROOM": room, "BENCH_EVENT": str(event), **env},
        users=users, spawn_rate=spawn_rate, seconds=seconds)
    stop.set()
    watch = await watcher
    rep = await report(ctx, event)
    rec = run["record"]
    statuses, problems = status_checks(run)
    if rep["seats"]["total"] != seats:
        problems.append(f"event has {rep['seats']['total']} seats, {seats} were asked for")
    problems += sale_checks(rep, seats)
    inversions, duplicates = fifo_inversions(rec["admissions"])
    if inversions:
        problems.append(f"{inversions} FIFO inversions in admission")
    if duplicates:
        problems.append(f"{duplicates} visitors admitted twice")
    rate_fig = admission_rate(watch, rate)
    if rate_fig["measured_per_minute"] is None:
        problems.append(f"admission rate not measurable ({rate_fig['ticks']} ticks)")
    elif abs(rate_fig["ratio"] - 1) > RATE_TOLERANCE:
        problems.append(f"admission rate {rate_fig['measured_per_minute']:.0f}/min vs knob "
                        f"{rate}/min")
    if rec["seats_confirmed"] > rep["seats"]["sold"]:
        problems.append(f"{rec['seats_confirmed']} seats confirmed, {rep['seats']['sold']} sold")
    waits = [issued - joined for _, _, issued, joined in rec["admissions"]]
    return {
        **summary(run), "statuses": statuses, "problems": problems,
        "visitors": rec["statuses"].get("join 200", 0), "admitted": len(rec["admissions"]),
        "queue_wait_p50_s": pct(waits, 0.5), "queue_wait_p95_s": pct(waits, 0.95),
        "capacity": seats, "report": rep, "fifo_inversions": inversions,
        "admission": rate_fig, "admit_per_minute": rate,
        "ticks": [[t - run["started"], c] for t, c in watch["ticks"]],
        "queue_length": [[t - run["started"], n] for t, n in watch["queue"]],
        "history": run["history"],
        "buyers": {k: rec[k] for k in ("holds_created", "confirmed", "seats_confirmed",
                                       "sold_out", "gave_up")},
    }


async def flash(ctx: Ctx, scale: Scale) -> dict[str, Any]:
    r0, r1, ramp = scale.flash_ramp
    visitors = int(ramp * (r0 + r1) / 2)
    seats = max(10, visitors // 90 * 10)  # one seat for every nine visitors
    out = await queue_sale(ctx, "flash", seats=seats, rate=scale.flash_rate, users=visitors,
                           spawn_rate=r1, seconds=scale.flash_s,
                           env={"BENCH_RAMP": f"{r0},{r1},{ramp},{scale.flash_s}"})
    out["arrivals"] = {"from_per_s": r0, "to_per_s": r1, "ramp_s": ramp}
    return out


async def hall(ctx: Ctx, scale: Scale) -> dict[str, Any]:
    # Everyone arrives within the first ten seconds.
    return await queue_sale(ctx, "hall", seats=scale.hall_seats, rate=scale.hall_rate,
                            users=scale.hall_visitors, spawn_rate=scale.hall_visitors / 10,
                            seconds=scale.hall_s, env={"BENCH_POLL_MS": "1000"})


async def storm(ctx: Ctx, scale: Scale) -> dict[str, Any]:
    capacity = scale.storm_section
    sections = [*sections_for(capacity, "A"), *sections_for(400, "B")]
    room, event = await create_sale(ctx, "storm", sections, rate=0)
    sess = await sessions(ctx, room, scale.storm_buyers)
    seats = await seat_ids(ctx, event, sess[0], "A")
    (ctx.tmp / "storm-sessions.txt").write_text("\n".join(sess))
    (ctx.tmp / "storm-seats.json").write_text(json.dumps(seats))
    spawn_s = 2.0
    run = await asyncio.to_thread(
        run_locust, ctx, "storm", "StormBuyer", {
            "BENCH_EVENT": str(event), "BENCH_SESSIONS": str(ctx.tmp / "storm-sessions.txt"),
            "BENCH_SEATS": str(ctx.tmp / "storm-seats.json"),
            "BENCH_START_AT": str(time.time() + spawn_s + 3.0)},
        users=scale.storm_buyers, spawn_rate=scale.storm_buyers / spawn_s,
        seconds=scale.storm_s)
    rep = await report(ctx, event)
    statuses, problems = status_checks(run)
    problems += sale_checks(rep, rep["seats"]["total"])
    sold_a = await section_sold(ctx, event, sess[0], "A")
    if sold_a > capacity:
        problems.append(f"section A oversold: {sold_a} of {capacity}")
    rec = run["record"]
    return {**summary(run), "statuses": statuses, "problems": problems,
            "buyers": scale.storm_buyers, "capacity": capacity, "sold": sold_a,
            "report": rep, "history": run["history"],
            "holds_created": rec["holds_created"], "confirmed": rec["confirmed"]}


async def section_sold(ctx: Ctx, event: int, session: str, section: str) -> int:
    _, body = await call(ctx, "GET", f"{ctx.tk}/api/events/{event}/seats",
                         headers={"Authorization": f"Bearer {session}"})
    return sum(1 for s in body["seats"] if s["section"] == section and s["status"] == "sold")


async def level(ctx: Ctx, scale: Scale, name: str) -> dict[str, Any]:
    users = scale.level_users
    env: dict[str, str] = {}
    event = None
    user_class = {"static": "StaticUser", "hello": "HelloUser", "seatmap": "SeatMapUser",
                  "holds": "HoldWriter", "mixed": "MixedUser"}[name]
    holds_per_session = 40
    if name in ("seatmap", "holds", "mixed"):
        seats = {"seatmap": 500, "holds": 10_000, "mixed": 2_000}[name]
        room, event = await create_sale(ctx, f"level-{name}", sections_for(seats), rate=0,
                                        limit=50)
        sess = await sessions(ctx, room, users if name == "seatmap" else
                              seats // holds_per_session)
        ids = await seat_ids(ctx, event, sess[0])
        (ctx.tmp / f"{name}-sessions.txt").write_text("\n".join(sess))
        (ctx.tmp / f"{name}-seats.json").write_text(json.dumps(ids))
        env = {"BENCH_EVENT": str(event), "BENCH_SESSIONS": str(ctx.tmp / f"{name}-sessions.txt"),
               "BENCH_SEATS": str(ctx.tmp / f"{name}-seats.json"),
               "BENCH_HOLDS_PER_SESSION": str(holds_per_session)}
    run = await asyncio.to_thread(run_locust, ctx, name, user_class, env, users=users,
                                  spawn_rate=users, seconds=scale.level_s)
    statuses, problems = status_checks(run)
    out: dict[str, Any] = {**summary(run), "users": users, "statuses": statuses,
                           "history": run["history"]}
    if event is not None:
        rep = await report(ctx, event)
        out["report"] = rep
        problems += sale_checks(rep, rep["seats"]["total"])
        if name in ("holds", "mixed"):
            created = run["record"]["holds_created"]
            held = rep["seats"]["held"] + rep["seats"]["sold"]
            out["holds_created"] = created
            if created != held:
                problems.append(f"{created} holds answered 201, {held} seats held")
    out["problems"] = problems
    return out


async def run_all(stack: procs.Stack, scale: Scale, names: list[str],
                  tmp: Path) -> dict[str, Any]:
    hello = stack.start("hello", "bench.hello", serve=False)
    wr = stack.start("waitingroom", "waitingroom")
    tk = stack.start("ticketing", "ticketing", env={"WAITINGROOM_URL": wr.url})
    redis = aioredis.from_url(stack.backends.redis_url or "", decode_responses=True)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        ctx = Ctx(stack, http, redis, wr.url, tk.url, hello.url, tmp)
        for name in names:
            t0 = time.perf_counter()
            if name == "flash":
                res = await flash(ctx, scale)
            elif name == "hall":
                res = await hall(ctx, scale)
            elif name == "storm":
                res = await storm(ctx, scale)
            else:
                res = await level(ctx, scale, name)
            res["elapsed_s"] = time.perf_counter() - t0
            results[name] = res
            print(line(name, res), flush=True)
    await redis.aclose()
    return results


def line(name: str, res: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    rps = res.get("rps")
    text = (f"{name:<8} {rps or 0:>8.0f} req/s  p50 {ms(res.get('p50_ms'))} ms  "
            f"p95 {ms(res.get('p95_ms'))} ms  p99 {ms(res.get('p99_ms'))} ms")
    if "admission" in res and res["admission"].get("measured_per_minute"):
        adm = res["admission"]
        text += (f"  admitted {res['admitted']}  rate {adm['measured_per_minute']:.0f}/min "
                 f"vs {adm['knob']}")
    if "report" in res:
        text += f"  sold {res['report']['seats']['sold']}/{res['report']['seats']['total']}"
    if res["problems"]:
        text += "  FAILED: " + "; ".join(res["problems"])
    return text


def machine() -> dict[str, Any]:
    import platform
    from importlib.metadata import version

    # Not imported here: importing locust monkey-patches this process for gevent.
    return {"nproc": os.cpu_count(), "python": platform.python_version(),
            "locust": version("locust"), "platform": platform.platform()}


def run(quick: bool, names: list[str] | None = None, out: Path | None = None) -> dict[str, Any]:
    scale = QUICK if quick else FULL
    chosen = names or list(QUICK_NAMES if quick else NAMES)
    out = out or RESULTS / ("scenarios-quick.json" if quick else "scenarios.json")
    started = time.perf_counter()
    with procs.stack() as stack, tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run_all(stack, scale, chosen, Path(tmp)))
    problems = [f"{name}: {p}" for name, res in results.items() for p in res["problems"]]
    result = {
        "benchmark": "scenarios",
        "command": "python -m bench.scenarios" + (" --quick" if quick else "")
                   + ("" if names is None else " " + " ".join(names)),
        "machine": machine(), "scale": scale.__dict__, "results": results,
        "problems": problems, "elapsed_s": time.perf_counter() - started,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def markdown(result: dict[str, Any]) -> str:
    def f(v: float | None, spec: str = ".0f") -> str:
        return "-" if v is None else format(v, spec)

    lines = ["| scenario | req/s | p50 ms | p95 ms | p99 ms | 5xx | correctness |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, res in result["results"].items():
        fives = sum(v for k, v in res["statuses"].items() if int(k.rsplit(" ", 1)[1]) >= 500)
        notes = []
        if "report" in res:
            seats = res["report"]["seats"]
            notes.append(f"sold {seats['sold']}/{seats['total']}, booked "
                         f"{res['report']['booked_seats']}")
        if "admission" in res:
            adm = res["admission"]
            if adm.get("measured_per_minute"):
                notes.append(f"admitted {adm['measured_per_minute']:.0f}/min vs knob "
                             f"{adm['knob']} ({(adm['ratio'] - 1) * 100:+.1f}%)")
            notes.append(f"FIFO inversions {res['fifo_inversions']}")
            if res.get("queue_wait_p50_s") is not None:
                notes.append(f"queue wait p50 {res['queue_wait_p50_s']:.1f} s, "
                             f"p95 {res['queue_wait_p95_s']:.1f} s")
        if name == "storm":
            notes.append(f"section sold {res['sold']}/{res['capacity']} to "
                         f"{res['buyers']} buyers")
        if "holds_created" in res and name in ("holds", "mixed"):
            notes.append(f"{res['holds_created']} holds = held seats")
        notes.append("OK" if not res["problems"] else "FAILED: " + "; ".join(res["problems"]))
        lines.append(f"| {name} | {f(res.get('rps'))} | {f(res.get('p50_ms'))} | "
                     f"{f(res.get('p95_ms'))} | {f(res.get('p99_ms'))} | {fives} | "
                     f"{'; '.join(notes)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale (about a minute)")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default bench/results/scenarios.json, or "
                             "scenarios-quick.json with --quick)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"scenarios to run (default: all): {', '.join(NAMES)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(NAMES)}")
    result = run(args.quick, args.names or None, args.json)
    print(markdown(result))
    print(f"command: {result['command']}  ({result['elapsed_s']:.0f} s)")
    for problem in result["problems"]:
        print(f"CORRECTNESS FAILURE: {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())

