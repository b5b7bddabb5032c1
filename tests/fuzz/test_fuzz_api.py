"""Each app's OpenAPI document describes exactly its routes, and fuzzing every operation with
schemathesis (valid and invalid data) finds no 500, no answer that breaks the document, and no
Redis key or database row changed by a request that was refused."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import pytest
import redis
import requests
import schemathesis
from fuzz_live import ThreadedApp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from fairgate.config import Settings
from fairgate.embedded import Backends

log = logging.getLogger(__name__)

SAFE = {"GET", "HEAD", "OPTIONS"}
CHECKS = [not_a_server_error, response_schema_conformance]
# Examples per app: enough to reach every operation many times in both modes, small enough for
# the test budget (each is one loopback request plus, for writes, a before/after snapshot).
EXAMPLES = 250


def _document(app: ThreadedApp) -> dict[str, Any]:
    resp = requests.get(app.url + "/api/openapi.json", timeout=10)
    assert resp.status_code == 200
    return resp.json()


def _router_routes(app_name: str, settings: Settings) -> set[tuple[str, str]]:
    if app_name == "waitingroom":
        from waitingroom.app import create_app
        app = create_app(settings, "redis://127.0.0.1:9")
    else:
        from ticketing.app import create_app
        app = create_app(settings, "postgresql://127.0.0.1:9/x")
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        # HEAD rides along with every GET; /static is the shipped files.
        if path and route.method != "HEAD" and route.name != "static":
            found.add((route.method.lower(), path))
    return found


@pytest.mark.parametrize("app_name", ["waitingroom", "ticketing"])
def test_the_document_lists_every_route_and_only_those(
    app_name: str, settings: Settings, request: pytest.FixtureRequest
) -> None:
    live = request.getfixturevalue("wr_live" if app_name == "waitingroom" else "tk_live")
    doc = _document(live)
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    routes = _router_routes(app_name, settings)
    assert routes - documented == set(), "routes missing from /api/openapi.json"
    assert documented - routes == set(), "documented paths the app does not serve"


def _redis_state(client: redis.Redis, room: str | None) -> Any:
    from waitingroom import keys

    if not room:
        return None
    # The admission tick lock (SET NX PX) is taken by any look at an existing room, even a
    # refused request (ticks are time-driven), and expires within the debounce interval.
    lock = keys.RoomKeys(room).tick_lock.encode()
    found = sorted(k for k in client.scan_iter(match=f"*{{{room}}}*", count=1000) if k != lock)
    return ([(k, client.dump(k)) for k in found], client.sismember(keys.ROOMS, room))


TK_STATE = """SELECT (SELECT coalesce(max(id), 0) FROM events),
                     (SELECT coalesce(max(id), 0) FROM holds),
                     (SELECT coalesce(max(id), 0) FROM bookings),
                     (SELECT count(*) FROM idempotency_keys),
                     (SELECT count(*) FROM seats WHERE status <> 'free')"""


def _pg_state(url: str) -> Any:
    async def read() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return tuple(await conn.fetchrow(TK_STATE))
        finally:
            await conn.close()

    return asyncio.run(read())


# schemathesis draws some invalid values with the `random` module, which Hypothesis flags as a
# deprecation; the values are still valid test data.
pytestmark = pytest.mark.filterwarnings(
    "ignore::hypothesis.errors.HypothesisDeprecationWarning")


def _fuzz(live: ThreadedApp, admin: dict[str, str], snapshot: Any) -> None:
    schema = schemathesis.openapi.from_dict(_document(live))
    ops = [r.ok() for r in schema.get_all_operations()]
    strategies = [op.as_strategy(generation_mode=mode)
                  for op in ops for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    http = requests.Session()
    seen: dict[int, int] = {}
    statuses: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(strategies), st.booleans())
    def run(case: schemathesis.Case, as_admin: bool) -> None:
        write = case.method.upper() not in SAFE
        before = snapshot(case) if write else None
        response = case.call(base_url=live.url, session=http,
                             headers=dict(admin) if as_admin else None, timeout=10)
        seen[response.status_code // 100] = seen.get(response.status_code // 100, 0) + 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)
        if write and 400 <= response.status_code < 500:
            assert snapshot(case) == before, (
                f"{case.method} {case.formatted_path} was refused with "
                f"{response.status_code} but changed stored state")

    run()
    # The fuzzer reached the handlers: some calls succeeded and some were refused.
    assert seen.get(2) and seen.get(4), seen
    log.info("fuzzed %s: %d requests, by status %s", live.url, sum(statuses.values()),
             dict(sorted(statuses.items())))


def test_fuzz_waiting_room(wr_live: ThreadedApp, backends: Backends,
                           admin_headers: dict[str, str]) -> None:
    client = redis.Redis.from_url(backends.redis_url or "")
    try:
        _fuzz(wr_live, admin_headers,
              lambda case: _redis_state(client, (case.path_parameters or {}).get("room")))
    finally:
        client.close()


def test_fuzz_ticketing(tk_live: ThreadedApp, backends: Backends,
                        admin_headers: dict[str, str]) -> None:
    url = backends.database_url or ""
    _fuzz(tk_live, admin_headers, lambda case: _pg_state(url))
