"""Scaling from one process to two on this machine: status polls against hello-world.

    python -m bench.scaling [--quick]

Four servers run side by side on one Redis: ``waitingroom serve --workers 1`` and
``--workers 2`` (SO_REUSEPORT, fairgate.supervisor), and the same bare aiohttp hello-world with
1 and 2 workers (``python -m bench.scaling hello``). wrk (one thread, bench/poll.lua rotating
through real tickets of a room that admits nobody) measures each in turn, alternated in rounds;
req/s are medians over rounds; each 2-process / 1-process ratio is the median of the per-round
ratios (neighbouring runs), printed for both servers, so what the machine allows (hello-world)
and what the waiting room gets can be read side by side.
The load generator shares the machine's cores with the servers, which caps both ratios below 2;
requests per second of the servers' own CPU time (from /proc) are reported too, since they do not
depend on what else the machine is doing.
Results: bench/results/scaling.json (scaling-quick.json with ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis

from fairgate.embedded import free_port

from . import procs, wrk
from .waitingroom import JOIN_LUA, POLL_LUA, join_tickets, put_room

RESULTS = Path(__file__).resolve().parent / "results"
WORKER_COUNTS = (1, 2)


@dataclass(frozen=True)
class Plan:
    seconds: float
    rounds: int
    connections: int
    tickets: int


QUICK = Plan(seconds=2, rounds=1, connections=64, tickets=1000)
FULL = Plan(seconds=3, rounds=5, connections=64, tickets=3000)
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server: the process and its workers, if it has any."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def measured(proc: procs.Proc, url: str, plan: Plan, **kw: Any) -> tuple[float, float]:
    """(requests per second, requests per second of the server's own CPU time)."""
    cpu0 = cpu_seconds(proc.popen.pid)
    result = wrk.run(url, seconds=plan.seconds, connections=plan.connections, **kw)
    cpu = cpu_seconds(proc.popen.pid) - cpu0
    if result.errors_non_2xx or result.errors_socket:
        raise RuntimeError(f"{url}: {result.errors_non_2xx} non-2xx, "
                           f"{result.errors_socket} socket errors")
    return result.requests_per_s, result.requests / cpu if cpu > 0 else float("nan")


def hello_main(argv: list[str]) -> int:
    """``python -m bench.scaling hello --port P --workers N``: hello-world on N processes."""
    from aiohttp import web

    from fairgate.supervisor import serve_workers
    from fairgate.web import serve

    from .hello import hello

    parser = argparse.ArgumentParser(prog="bench.scaling hello")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    def one() -> int:
        app = web.Application()
        app.router.add_get("/", hello)
        app.router.add_get("/healthz", hello)
        serve(app, "127.0.0.1", args.port, reuse_port=args.workers > 1)
        return 0

    return serve_workers("hello", args.workers, one)


def start_hello(stack: procs.Stack, workers: int) -> procs.Proc:
    port = free_port()
    log = stack.data_dir / f"hello{workers}.log"
    with open(log, "ab") as fh:
        popen = subprocess.Popen(
            [sys.executable, "-m", "bench.scaling", "hello", "--port", str(port),
             "--workers", str(workers)],
            env=stack.env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    proc = procs.Proc(f"hello{workers}", popen, f"http://127.0.0.1:{port}", log)
    stack.procs.append(proc)
    procs.wait_healthy(proc)
    return proc


async def make_tickets(base: str, count: int) -> tuple[str, list[str]]:
    """A room that admits nobody (every poll is a waiting visitor's) and real tickets in it."""
    room = f"scale{int(time.time())}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        await put_room(session, base, room, admit_per_minute=0)
        return room, await join_tickets(session, base, room, count)


def redis_counters(client: redis.Redis) -> tuple[int, float]:
    """Commands Redis has run (those inside Lua scripts included) and its CPU seconds."""
    stats = client.info("commandstats")
    cpu = client.info("cpu")
    calls = sum(int(v["calls"]) for v in stats.values())
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def redis_cost(client: redis.Redis, url: str, plan: Plan, **kw: Any) -> dict[str, float]:
    """One wrk run with Redis's own counters around it: commands per request and how many
    commands of this mix one Redis core runs per second of its CPU."""
    calls0, cpu0 = redis_counters(client)
    result = wrk.run(url, seconds=plan.seconds, connections=plan.connections, **kw)
    calls1, cpu1 = redis_counters(client)
    calls, cpu = calls1 - calls0 - 2, cpu1 - cpu0  # minus our own two INFO calls
    return {
        "req_per_s": result.requests_per_s,
        "requests": result.requests,
        "redis_commands_per_request": calls / max(1, result.requests),
        "redis_cpu_us_per_request": cpu * 1e6 / max(1, result.requests),
        "redis_commands_per_cpu_s": calls / cpu if cpu > 0 else float("nan"),
    }


def run(plan: Plan) -> dict[str, Any]:
    with procs.stack(need_postgres=False) as stack:
        wr_env = {"WR_LAPSE_S": "3600"}
        hello = {n: start_hello(stack, n) for n in WORKER_COUNTS}
        rooms = {n: stack.start(f"wr{n}", "waitingroom", "--workers", str(n), env=wr_env)
                 for n in WORKER_COUNTS}
        tickets = stack.data_dir / "tickets.txt"
        room, issued = asyncio.run(make_tickets(rooms[1].url, plan.tickets))
        tickets.write_text("\n".join(issued) + "\n")
        poll_path = f"/api/rooms/{room}/status"
        names = [f"{k}{n}" for k in ("hello", "poll") for n in WORKER_COUNTS]
        samples: dict[str, list[float]] = {name: [] for name in names}
        per_cpu: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(plan.rounds):
            for n in WORKER_COUNTS:
                runs = {
                    f"hello{n}": measured(hello[n], f"{hello[n].url}/", plan),
                    f"poll{n}": measured(rooms[n], f"{rooms[n].url}{poll_path}", plan,
                                         script=POLL_LUA, script_args=[str(tickets)]),
                }
                for name, (rps, rpcpu) in runs.items():
                    samples[name].append(rps)
                    per_cpu[name].append(rpcpu)
        # Redis's side, measured on the two-process server: what a poll and a join cost it.
        client = redis.Redis.from_url(stack.backends.redis_url or "")
        try:
            poll_cost = redis_cost(client, f"{rooms[2].url}{poll_path}", plan, script=POLL_LUA,
                                   script_args=[str(tickets)])
            join_cost = redis_cost(client, f"{rooms[2].url}/api/rooms/{room}/join", plan,
                                   script=JOIN_LUA)
        finally:
            client.close()
    median = {k: statistics.median(v) for k, v in samples.items()}

    def round_ratio(kind: str) -> list[float]:
        # Neighbouring runs of one round share the machine's mood; the median of those ratios
        # is steadier than a ratio of medians on a busy machine.
        return [b / a for a, b in zip(samples[f"{kind}1"], samples[f"{kind}2"], strict=True)]

    ratios = {kind: round_ratio(kind) for kind in ("hello", "poll")}
    return {
        "plan": plan.__dict__,
        "cpus": os.cpu_count(),
        "req_per_s": median,
        "samples": samples,
        "req_per_cpu_s": {k: statistics.median(v) for k, v in per_cpu.items()},
        "req_per_cpu_s_samples": per_cpu,
        "round_ratios": ratios,
        "hello_2_vs_1": statistics.median(ratios["hello"]),
        "poll_2_vs_1": statistics.median(ratios["poll"]),
        "poll_vs_hello": {str(n): median[f"poll{n}"] / median[f"hello{n}"]
                          for n in WORKER_COUNTS},
        "redis_poll": poll_cost,
        "redis_join": join_cost,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["hello"]:
        return hello_main(argv[1:])
    parser = argparse.ArgumentParser(prog="bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (smoke run)")
    args = parser.parse_args(argv)
    result = run(QUICK if args.quick else FULL)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("scaling-quick.json" if args.quick else "scaling.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    rps = result["req_per_s"]
    print(f"hello-world: 1 process {rps['hello1']:,.0f} req/s, 2 processes "
          f"{rps['hello2']:,.0f} req/s, ratio {result['hello_2_vs_1']:.2f}")
    print(f"status poll: 1 process {rps['poll1']:,.0f} req/s, 2 processes "
          f"{rps['poll2']:,.0f} req/s, ratio {result['poll_2_vs_1']:.2f}")
    cpu = result["req_per_cpu_s"]
    print("requests per second of server CPU: "
          + ", ".join(f"{k} {v:,.0f}" for k, v in cpu.items()))
    for kind in ("poll", "join"):
        cost = result[f"redis_{kind}"]
        print(f"redis per {kind}: {cost['redis_commands_per_request']:.2f} commands, "
              f"{cost['redis_cpu_us_per_request']:.1f} us of Redis CPU "
              f"({cost['redis_commands_per_cpu_s']:,.0f} commands per Redis CPU second)")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
