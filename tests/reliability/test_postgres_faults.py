"""PostgreSQL crashing while holds and confirms are in flight, behind a real ticketing process.

The whole server dies at once (SIGKILL to the postmaster and every backend), then starts again
on the same data directory and replays its WAL. The app process is not restarted: its pool must
reconnect by itself. ``-s`` prints the figures docs/RELIABILITY.md quotes.
"""

from __future__ import annotations

import asyncio

from fault_support import ADMIN_HEADERS, PrivatePostgres, Recorder, StartApp
from tk_sales import Sale, audit

from fairgate.embedded import free_port

# Answers a buyer may get at any moment of this test (201 created, 204 released, 409 taken).
EXPECTED = {200, 201, 204, 409, 503}


async def test_postgres_killed_mid_hold_and_confirm(
    private_pg: PrivatePostgres, start_app: StartApp, recorder: Recorder,
) -> None:
    tk = await start_app("ticketing", DATABASE_URL=private_pg.url,
                         WAITINGROOM_URL=f"http://127.0.0.1:{free_port()}")
    sale = Sale(recorder, tk.url)
    await sale.open(buyers=12)
    async with sale.load():
        await asyncio.sleep(0.6)
        await asyncio.to_thread(private_pg.kill)  # holds and confirms in flight are cut
        recorder.phase = "outage"
        await asyncio.sleep(1.0)
        recorder.phase = "after"
        await asyncio.to_thread(private_pg.restart)
        await asyncio.sleep(1.0)
    found = await audit(sale, private_pg.url)
    out = await recorder.call("admin", "GET", f"{tk.url}/admin/api/events/{sale.event_id}/report",
                              headers=ADMIN_HEADERS)
    replay = await recorder.call("session", "POST", f"{tk.url}/api/session",
                                 json={"token": sale.used_tokens[-1]})
    recorder.figures("postgres SIGKILL", audit=found, report=out.body)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert all(o.status in EXPECTED for o in recorder.outcomes), recorder.tally()
    outage = [o for o in recorder.outcomes if o.phase == "outage" and o.status == 503]
    assert outage and all(o.body["error"] == "database_unavailable" for o in outage)
    after = recorder.tally("after")
    assert after["hold 201"] > 0 and after["confirm 201"] > 0  # the pool reconnected
    for name in ("double_sales", "partial_holds", "orphan_held_seats", "partial_bookings",
                 "sold_not_booked", "booked_not_sold", "acknowledged_holds_lost",
                 "acknowledged_bookings_lost", "exchanged_tokens_forgotten"):
        assert found[name] == 0, (name, found)
    assert out.status == 200 and out.body["consistent"]
    assert out.body["seats"]["sold"] == out.body["booked_seats"] == found["sold"]
    # An admission token exchanged before the crash is still spent after it.
    assert (replay.status, replay.body["error"]) == (409, "token_used")
