"""Instructions per request, counted by valgrind: a figure the machine's other work cannot move.

Requests per second, and even CPU time per request, move by 20 % from one run to the next on a
shared machine. The number of instructions the server executes per request does not, which
makes this the tool for before/after comparisons of a change to the hot path.

A child process, run under ``valgrind --tool=cachegrind``, drives aiohttp's own server protocol
in-process through a stand-in transport: request bytes go into the protocol's
``data_received`` exactly as the event loop would hand them over, and the answer is collected
from ``write``. What is counted is the interpreter running aiohttp, the app and the event loop;
the kernel's socket work is not (wrk runs in ``bench.waitingroom`` include it). Each child is
run twice, with N1 and N2 requests after the same set-up; the difference divided by N2 - N1 is
the cost of one request, set-up and start-up cancelling out. The set-up varies a little from
run to run (how joins share round trips depends on timing), which is why N2 - N1 is large.

* **hello**: ``bench.hello``'s app (the baseline of ``bench.waitingroom``).
* **poll**: ``GET /api/rooms/{room}/status`` of the waiting room on a real (embedded) Redis,
  rotating through real tickets of visitors waiting in line.
* **join**: ``POST /api/rooms/{room}/join`` without a ticket, so each is a new visitor: one
  Redis round trip each (one request at a time, so no two joins share a round trip as they do
  under load; Redis's own work runs in its process and is not counted).

Work the waiting room does per interval rather than per request (snapshot refreshes, heartbeat
writes, admission ticks) is left out: under valgrind an interval passes every few hundred
requests instead of every few thousand, so the intervals are set to an hour in the child.

    python -m bench.instructions [--requests N1,N2] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import procs

RESULTS = Path(__file__).resolve().parent / "results"
ROOM = "bench-instructions-{}"  # one room per child run
AHEAD = 100  # visitors in line before the polling ones, so no polling one is called meanwhile
TICKETS = 500
ADMIN = f"Bearer {procs.ADMIN_TOKEN}"
HOUR_MS = "3600000"
KINDS = ("hello", "poll", "join")


class _Transport(asyncio.Transport):
    """What aiohttp's protocol needs of a transport; keeps the last answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: asyncio.Future[bytes] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default)

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(bytes(data))

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Client:
    """One keep-alive connection into an app's server protocol."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = _Transport()
        protocol.connection_made(self.transport)

    async def send(self, raw: bytes) -> bytes:
        self.transport.answered = asyncio.get_running_loop().create_future()
        self.protocol.data_received(raw)
        return await self.transport.answered


def _request(method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def _child(kind: str, count: int) -> None:
    from aiohttp import web

    from bench.hello import make_app
    from fairgate.config import Settings
    from waitingroom.app import create_app
    from waitingroom.appkeys import QUEUE_KEY

    if kind == "hello":
        app = make_app()
    else:
        app = create_app(Settings.from_env(), os.environ["REDIS_URL"])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        client = _Client(runner.server())
        if kind == "hello":
            requests = [_request("GET", "/")]
        elif kind == "join":
            requests = [await _join_request(client, ROOM.format(count))]
        else:
            requests = await _waiting_visitors(client, app[QUEUE_KEY], ROOM.format(count))
        # Each request once before counting: what is counted is a repeat poll, as nearly every
        # poll is (a first one adds the visitor to the heartbeat batch and the caches).
        for raw in requests:
            await client.send(raw)
        # What set-up left behind lives to the end: out of the collector's way, so that how
        # often and how long it runs depends on the requests alone.
        gc.collect()
        gc.freeze()
        for i in range(count):
            answer = await client.send(requests[i % len(requests)])
        if _status(answer) != 200 or (kind == "poll" and b'"state":"waiting"' not in answer):
            raise SystemExit(f"{kind}: unexpected answer {answer[:200]!r}")
    finally:
        await runner.cleanup()


async def _make_room(client: _Client, name: str, admit_per_minute: int) -> None:
    room = json.dumps({"target_url": "http://127.0.0.1:9/enter",
                       "admit_per_minute": admit_per_minute, "max_active": 1_000_000,
                       "session_ttl": 600, "state": "open"}).encode()
    answer = await client.send(_request("PUT", f"/admin/api/rooms/{name}", {
        "Authorization": ADMIN, "Content-Type": "application/json"}, room))
    if _status(answer) not in (200, 201):
        raise SystemExit(f"room: {answer[:300]!r}")


async def _join_request(client: _Client, name: str) -> bytes:
    """A room that admits nobody (every number stays in line), and its join."""
    await _make_room(client, name, 0)
    return _request("POST", f"/api/rooms/{name}/join")


async def _waiting_visitors(client: _Client, queue: Any, name: str) -> list[bytes]:
    """A room admitting one visitor a minute, AHEAD + TICKETS visitors in line, the polls of
    the last TICKETS."""
    await _make_room(client, name, 1)
    polls = []
    for _ in range(AHEAD + TICKETS):
        answer = await client.send(_request("POST", f"/api/rooms/{name}/join"))
        ticket = json.loads(answer.split(b"\r\n\r\n", 1)[1])["ticket"]
        polls.append(_request("GET", f"/api/rooms/{name}/status", {"X-Queue-Ticket": ticket}))
    # A snapshot that has seen every number (it is not refreshed again for an hour).
    await queue.snapshots.fresh(name)
    return polls[AHEAD:]


def _count(kind: str, requests: int, env: dict[str, str]) -> int:
    """Instructions of one child run."""
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, "-m", "bench.instructions", "--child", kind, str(requests)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"{kind} x{requests} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def measure(counts: tuple[int, int]) -> dict[str, Any]:
    with procs.stack(need_postgres=False) as stack:
        env = {**stack.env, "WR_SNAPSHOT_MS": HOUR_MS, "WR_HEARTBEAT_MS": HOUR_MS,
               "WR_DEBOUNCE_MS": HOUR_MS}
        jobs = [(kind, n) for kind in KINDS for n in counts]
        # Two at a time: valgrind counts instructions, which sharing the cores does not change.
        with ThreadPoolExecutor(2) as pool:
            totals = dict(zip(jobs, pool.map(lambda job: _count(*job, env), jobs), strict=True))
    per = {kind: (totals[kind, counts[1]] - totals[kind, counts[0]]) / (counts[1] - counts[0])
           for kind in KINDS}
    return {"requests": list(counts), "instructions_per_request": per,
            "poll_vs_hello": per["hello"] / per["poll"],
            "join_vs_hello": per["hello"] / per["join"], "totals": {
                f"{k} x{n}": v for (k, n), v in totals.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--requests", default="1000,5000",
                        help="the two request counts whose difference is measured")
    parser.add_argument("--json", type=Path, default=RESULTS / "instructions.json")
    args = parser.parse_args(argv)
    if args.child:
        from fairgate.web import configure_logging, install_uvloop

        install_uvloop()
        with open(os.devnull, "w") as sink:
            if args.child[0] != "hello":
                configure_logging(sink)  # as when served; the event lines go to /dev/null
            asyncio.run(_child(args.child[0], int(args.child[1])))
        return 0
    low, high = (int(n) for n in args.requests.split(","))
    if not 0 < low < high:
        parser.error("--requests needs two counts, the first smaller")
    result = measure((low, high))
    per = result["instructions_per_request"]
    print("| request | instructions per request | ratio to hello |")
    print("| --- | ---: | ---: |")
    for kind in KINDS:
        print(f"| {kind} | {per[kind]:,.0f} | {per['hello'] / per[kind]:.2f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
