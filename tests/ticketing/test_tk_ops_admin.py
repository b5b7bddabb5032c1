"""Operator tools of the ticketing app: authentication on every admin route, the audit log of
event creation, ``/metrics`` moving with holds, confirms, 409s and 410s, and the CLI's
``events`` commands against the live app."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from aiohttp.test_utils import TestServer
from promtext import Samples, samples_of, value
from tk_helpers import Tk, until

from ticketing.keys import HUB_KEY

ADMIN = "test-admin-token-0123456789abcdef"
EVENT_BODY = {"per_visitor_limit": 4, "hold_ttl_s": 300,
              "sections": [{"name": "A", "rows": 1, "seats_per_row": 4, "price": 2500}]}


async def test_every_admin_route_refuses_without_a_valid_token(
    tk: Tk, tk_server: TestServer
) -> None:
    routes = []
    for route in tk_server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/admin") and route.method != "HEAD":
            routes.append((route.method, re.sub(r"\{[^}]+\}", "1", path)))
    assert {("POST", "/admin/api/events"), ("GET", "/admin/api/audit"),
            ("GET", "/admin/api/events/1/report")} <= set(routes)
    before = await tk.db.fetchval("SELECT count(*) FROM events")
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abc"},
                        {"Authorization": ADMIN}):
            status, body = await tk.call(method, path, headers, json={"name": "x"})
            assert status == 401 and body["error"] == "unauthorized", (method, path, headers)
    assert await tk.db.fetchval("SELECT count(*) FROM events") == before


async def _scrape(tk: Tk) -> Samples:
    async with tk.http.get(tk.url("/metrics")) as resp:
        assert resp.status == 200
        return samples_of(await resp.text())


async def test_metrics_and_event_lines_move_with_holds_and_confirms(
    tk: Tk, tk_server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fairgate.events")
    event = await tk.create_event()
    before = await _scrape(tk)
    alice, bob = await tk.session(event.room), await tk.session(event.room)
    status, first = await tk.hold(event, alice, event.seat_ids[:2])
    assert status == 201
    # Once the hold's seat notice has arrived, a hold on those seats looks before it locks.
    known = tk_server.app[HUB_KEY].known
    await until(lambda: known.any_taken(event.seat_ids[1:2]), "the hold's seat notice arrived")
    status, _ = await tk.hold(event, bob, event.seat_ids[1:3])
    assert status == 409
    status, second = await tk.hold(event, alice, event.seat_ids[4:5])
    assert status == 201
    assert (await tk.confirm(first["hold_id"], alice))[0] == 201
    assert (await tk.call("DELETE", f"/api/holds/{second['hold_id']}", alice))[0] == 204
    assert (await tk.confirm(second["hold_id"], alice))[0] == 410
    after = await _scrape(tk)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ticketing_holds_total", status="201") == 2
    assert moved("ticketing_holds_total", status="409") == 1
    assert moved("ticketing_confirms_total", status="201") == 1
    assert moved("ticketing_confirms_total", status="410") == 1
    assert moved("ticketing_entries_total", status="200") == 2
    # The 409 was answered by the lock-free look before any lock: two holds took locks.
    assert moved("ticketing_lock_wait_seconds_count", op="hold") == 2
    assert moved("ticketing_lock_wait_seconds_count", op="confirm") == 2
    assert moved("fairgate_http_request_duration_seconds_count", app="ticketing",
                 route="api_hold", status="2xx") == 2
    assert value(after, "fairgate_pg_pool_connections", app="ticketing", pool="primary",
              state="max") > 0

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "fairgate.events"]
    holds = [x["status"] for x in lines if x["event"] == "hold"
             and x.get("event_id") == str(event.id)]
    assert holds == [201, 409, 201]
    confirms = [x["status"] for x in lines if x["event"] == "confirm"
                and x.get("hold_id") in (str(first["hold_id"]), str(second["hold_id"]))]
    assert confirms == [201, 410]


async def test_event_creation_is_audited_and_bad_input_records_nothing(tk: Tk) -> None:
    status, created = await tk.call("POST", "/admin/api/events", tk.admin_headers, json={
        **EVENT_BODY, "name": "Audited night", "room": "tkaudit-" + str(id(tk))[-8:]})
    assert status == 201
    rows_before = await tk.db.fetchval("SELECT count(*) FROM admin_audit")
    status, body = await tk.call("POST", "/admin/api/events", tk.admin_headers, json={
        **EVENT_BODY, "name": "Bad", "room": "bad room!"})
    assert status == 422 and body["field"] == "room"
    assert await tk.db.fetchval("SELECT count(*) FROM admin_audit") == rows_before

    status, body = await tk.call("GET", "/admin/api/audit?limit=5", tk.admin_headers)
    assert status == 200
    entry = next(e for e in body["entries"] if e["target"] == f"event/{created['id']}")
    assert entry["actor"] == "admin" and entry["action"] == "event.create"
    assert entry["old"] is None and entry["new"]["name"] == "Audited night"
    assert entry["new"]["seat_count"] == 4 and entry["new"]["sections"][0]["price"] == 2500
    assert ADMIN not in json.dumps(body)
    status, body = await tk.call("GET", "/admin/api/audit?limit=nope", tk.admin_headers)
    assert status == 422 and body["field"] == "limit"


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from waitingroom.cli import main

    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--token", ADMIN, *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_cli_events_create_report_and_audit(
    tk: Tk, capsys: pytest.CaptureFixture[str], waitingroom_stub,
) -> None:
    url = tk.base
    room = "tkcli-" + str(id(capsys))[-8:]
    code, out, err = await _cli(capsys, "--ticketing-url", url, "--url", waitingroom_stub.url,
                                "events", "create",
                                "--name", "CLI night", "--room", room,
                                "--section", "Floor:2:5:4000", "--section", "Balcony:1:4:2500",
                                "--limit", "2")
    assert code == 0, err
    match = re.match(r"event (\d+) created: CLI night \(room (\S+)\), 14 seats", out)
    assert match and match.group(2) == room
    event_id = match.group(1)
    # The waiting room has no such room yet: the event is made, and the operator told how
    # to make the room (nobody can be admitted before it exists).
    assert f"has no room '{room}' yet" in err and f"rooms set {room} --target-url {url}/enter" \
        in err, err
    waitingroom_stub.rooms.add(room + "-b")
    code, _, err = await _cli(capsys, "--ticketing-url", url, "--url", waitingroom_stub.url,
                              "events", "create", "--name", "Room ready", "--room", room + "-b",
                              "--section", "A:1:1:1")
    assert code == 0 and err == "", err

    code, out, err = await _cli(capsys, "--ticketing-url", url, "events", "report", event_id)
    assert code == 0, err
    assert f"event {event_id}: CLI night (room {room})" in out
    figures = dict(re.findall(r"^(seats|free|sold|consistent)\s+(\S+)", out, re.M))
    assert figures == {"seats": "14", "free": "14", "sold": "0", "consistent": "yes"}
    code, out, _ = await _cli(capsys, "--ticketing-url", url, "--json", "events", "report",
                              event_id)
    assert code == 0 and json.loads(out)["seats"]["total"] == 14
    code, out, _ = await _cli(capsys, "--ticketing-url", url, "events", "list")
    assert code == 0 and re.search(rf"^\s*{event_id}\s+CLI night\s+{room}$", out, re.M)
    code, out, _ = await _cli(capsys, "--ticketing-url", url, "audit", "--ticketing")
    assert code == 0 and f"event/{event_id}" in out and "event.create" in out

    code, _, err = await _cli(capsys, "--ticketing-url", url, "events", "create", "--name",
                              "Again", "--room", room, "--section", "A:1:1:1")
    assert code == 1 and "HTTP 409" in err  # one event per room
    code, _, err = await _cli(capsys, "--ticketing-url", url, "events", "create", "--name",
                              "Bad", "--room", room + "x", "--section", "A:0:1:1")
    assert code == 1 and "rows" in err
    code, _, err = await _cli(capsys, "--ticketing-url", url, "events", "report", "999999999")
    assert code == 1 and "404" in err
    code, _, err = await _cli(capsys, "--ticketing-url", url, "events", "create", "--name",
                              "Bad", "--room", room + "y", "--section", "A:1")
    assert code == 2 and "NAME:ROWS:SEATS:PRICE" in err
    code, _, err = await _cli(capsys, "--ticketing-url", "http://127.0.0.1:9", "events",
                              "report", "1")
    assert code == 3 and "cannot reach" in err
