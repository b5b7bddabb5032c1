"""Locust scenarios of real ticket sales, scaled by environment variables.

``python -m bench.scenarios`` starts the servers, creates the room and the event, sets these
variables and runs locust headless with one of the user classes below; it then checks the
figures this file writes to ``BENCH_RECORD``.

User classes (pass the name to locust):

* ``Visitor``: joins, polls at the server's ``poll_after_ms`` (or every ``BENCH_POLL_MS``),
  and once admitted exchanges the token at ``POST /api/session``, loads the seat map, holds 1-4
  free seats with an ``Idempotency-Key`` and confirms. The flash sale and the small hall.
* ``StormBuyer``: an admitted buyer (session from ``BENCH_SESSIONS``) who waits for
  ``BENCH_START_AT`` and then holds seats of one section, like everyone else at that moment.
* ``StaticUser``, ``HelloUser``, ``SeatMapUser``, ``HoldWriter``, ``MixedUser``: level tests
  (static file, hello-world, read-only seat map, write-only holds, 80/20 read/write).

Variables: ``BENCH_WR_URL``, ``BENCH_TK_URL``, ``BENCH_HELLO_URL``, ``BENCH_ROOM``,
``BENCH_EVENT``, ``BENCH_SESSIONS`` (file, one session per line), ``BENCH_SEATS`` (file, JSON
list of seat ids), ``BENCH_SECRET_KEYS``, ``BENCH_RECORD`` (JSON written at the end),
``BENCH_POLL_MS``, ``BENCH_START_AT``, ``BENCH_HOLDS_PER_SESSION``, and ``BENCH_RAMP`` =
``FROM,TO,SECONDS,DURATION``: visitors arrive at FROM per second rising to TO over SECONDS,
the run ends after DURATION seconds.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gevent
from locust import LoadTestShape, constant, events, task
from locust.contrib.fasthttp import FastHttpUser

from fairgate.tokens import Signer

ENV = os.environ
WR = ENV.get("BENCH_WR_URL", "")
TK = ENV.get("BENCH_TK_URL", "")
HELLO = ENV.get("BENCH_HELLO_URL", "")
ROOM = ENV.get("BENCH_ROOM", "")
EVENT = ENV.get("BENCH_EVENT", "")
POLL_MS = int(ENV.get("BENCH_POLL_MS") or 0)
START_AT = float(ENV.get("BENCH_START_AT") or 0)
HOLDS_PER_SESSION = int(ENV.get("BENCH_HOLDS_PER_SESSION") or 40)
SIGNER = Signer([k for k in ENV.get("BENCH_SECRET_KEYS", "unset-key-0123456789").split(",")
                 if k])
SESSIONS = (Path(ENV["BENCH_SESSIONS"]).read_text().split()
            if ENV.get("BENCH_SESSIONS") else [])
SEATS: list[int] = (json.loads(Path(ENV["BENCH_SEATS"]).read_text())
                    if ENV.get("BENCH_SEATS") else [])
# Buyers give up after this many refused holds (the seats they wanted went to others).
HOLD_ATTEMPTS = 3

# What the driver checks afterwards; written once at the end of the run.
RECORD: dict[str, Any] = {
    "statuses": Counter(),  # "name status" -> count
    # [number, admission expiry (the tick's time + session_ttl), token issued at, joined at]
    "admissions": [],
    "holds_created": 0,
    "confirmed": 0,
    "seats_confirmed": 0,
    "sold_out": 0,
    "gave_up": 0,
}
_seq = itertools.count()
_lock = threading.Lock()


@events.request.add_listener
def _count_status(name: str, response: Any = None, exception: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", None) or 0
    RECORD["statuses"][f"{name} {status}"] += 1


@events.test_stop.add_listener
def _write_record(**_: Any) -> None:
    path = ENV.get("BENCH_RECORD")
    if path:
        Path(path).write_text(json.dumps({**RECORD, "statuses": dict(RECORD["statuses"])}))


def bearer(session: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session}"}


class Buyer(FastHttpUser):
    """Shared steps of anyone who has a ticketing session."""

    abstract = True
    host = TK or "http://127.0.0.1"
    wait_time = constant(0)

    def free_seats(self, session: str) -> list[int]:
        with self.client.get(f"{TK}/api/events/{EVENT}/seats", headers=bearer(session),
                             name="seats", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"seat map {resp.status_code}")
                return []
            return [s["id"] for s in resp.json()["seats"] if s["status"] == "free"]

    def hold(self, session: str, seat_ids: list[int]) -> tuple[int, Any]:
        headers = {**bearer(session), "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(f"{TK}/api/events/{EVENT}/holds", json={"seat_ids": seat_ids},
                              headers=headers, name="hold", catch_response=True) as resp:
            body = resp.json() if resp.text else {}
            if resp.status_code == 409:
                resp.success()  # refused seats are an answer, not an error
            if resp.status_code == 201:
                with _lock:
                    RECORD["holds_created"] += 1
            return resp.status_code, body

    def confirm(self, session: str, hold_id: int, seats: int) -> bool:
        with self.client.post(f"{TK}/api/holds/{hold_id}/confirm", headers=bearer(session),
                              name="confirm", catch_response=True) as resp:
            if resp.status_code == 201:
                with _lock:
                    RECORD["confirmed"] += 1
                    RECORD["seats_confirmed"] += seats
                return True
            resp.failure(f"confirm {resp.status_code}")
            return False


class Visitor(Buyer):
    """One person of the crowd: queue, admission, purchase, then gone."""

    host = WR or "http://127.0.0.1"

    def on_start(self) -> None:
        self.done = False

    @task
    def journey(self) -> None:
        if self.done:
            gevent.sleep(60)
            return
        self.done = True
        joined = time.time()
        with self.client.post(f"{WR}/api/rooms/{ROOM}/join", json={}, name="join",
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"join {resp.status_code}")
                return
            ticket = resp.json()["ticket"]
        redirect = self.wait_for_turn(ticket)
        token = parse_qs(urlsplit(redirect).query)["token"][0]
        adm = SIGNER.load_admission(token)
        with _lock:
            RECORD["admissions"].append([adm.number, adm.expires_at, adm.issued_at, joined])
        with self.client.post(f"{TK}/api/session", json={"token": token}, name="session",
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"session {resp.status_code}")
                return
            session = resp.json()["session"]
        self.buy(session)

    def wait_for_turn(self, ticket: str) -> str:
        while True:
            with self.client.get(f"{WR}/api/rooms/{ROOM}/status", name="status",
                                 headers={"X-Queue-Ticket": ticket},
                                 catch_response=True) as resp:
                if resp.status_code != 200:
                    resp.failure(f"status {resp.status_code}")
                    gevent.sleep(1)
                    continue
                data = resp.json()
            if data["state"] == "admitted":
                return data["redirect_url"]
            ticket = data.get("ticket", ticket)
            gevent.sleep((POLL_MS or data["poll_after_ms"]) / 1000)

    def buy(self, session: str) -> None:
        want = random.randint(1, 4)
        for _ in range(HOLD_ATTEMPTS):
            free = self.free_seats(session)
            if not free:
                with _lock:
                    RECORD["sold_out"] += 1
                self.leave(session)
                return
            picks = random.sample(free, min(want, len(free)))
            status, body = self.hold(session, picks)
            if status == 201:
                self.confirm(session, body["hold_id"], len(picks))
                return
        with _lock:
            RECORD["gave_up"] += 1
        self.leave(session)

    def leave(self, session: str) -> None:
        self.client.delete(f"{TK}/api/session", headers=bearer(session), name="leave")


class StormBuyer(Buyer):
    """Everyone already admitted, everyone clicking "hold" on the same section at once."""

    def on_start(self) -> None:
        self.session = SESSIONS[next(_seq) % len(SESSIONS)]
        self.done = False

    @task
    def storm(self) -> None:
        if self.done:
            gevent.sleep(60)
            return
        self.done = True
        gevent.sleep(max(0.0, START_AT - time.time()))
        want = random.randint(1, 2)
        for _ in range(HOLD_ATTEMPTS):
            status, body = self.hold(self.session, random.sample(SEATS, want))
            if status == 201:
                self.confirm(self.session, body["hold_id"], want)
                return
            if status != 409:
                return


class StaticUser(FastHttpUser):
    host = WR or "http://127.0.0.1"
    wait_time = constant(0)

    @task
    def static(self) -> None:
        self.client.get(f"{WR}/static/queue.css", name="static")


class HelloUser(FastHttpUser):
    host = HELLO or "http://127.0.0.1"
    wait_time = constant(0)

    @task
    def hello(self) -> None:
        self.client.get(f"{HELLO}/", name="hello")


class SeatMapUser(Buyer):
    def on_start(self) -> None:
        self.session = SESSIONS[next(_seq) % len(SESSIONS)]

    @task
    def seats(self) -> None:
        self.client.get(f"{TK}/api/events/{EVENT}/seats", headers=bearer(self.session),
                        name="seats")


class HoldWriter(Buyer):
    """Every POST holds a seat nobody else asked for: each one must be accounted for."""

    @task
    def write(self) -> None:
        k = next(_seq)
        if k >= len(SEATS) or k // HOLDS_PER_SESSION >= len(SESSIONS):
            gevent.sleep(1)
            return
        self.hold(SESSIONS[k // HOLDS_PER_SESSION], [SEATS[k]])


class MixedUser(HoldWriter):
    """Four seat-map reads for every hold."""

    def on_start(self) -> None:
        self.session = SESSIONS[random.randrange(len(SESSIONS))]

    @task(4)
    def read(self) -> None:
        self.client.get(f"{TK}/api/events/{EVENT}/seats", headers=bearer(self.session),
                        name="seats")


if ENV.get("BENCH_RAMP"):

    class ArrivalRamp(LoadTestShape):
        """Visitors arrive at a rising rate; each stays until the end of the run."""

        def __init__(self) -> None:
            super().__init__()
            r0, r1, ramp, self.duration = (float(x) for x in ENV["BENCH_RAMP"].split(","))
            self.r0, self.r1, self.ramp = r0, r1, ramp

        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            if t > self.duration:
                return None
            s = min(t, self.ramp)
            arrived = self.r0 * s + (self.r1 - self.r0) * s * s / (2 * self.ramp)
            rate = self.r0 + (self.r1 - self.r0) * s / self.ramp
            return math.ceil(arrived), max(1.0, rate)
