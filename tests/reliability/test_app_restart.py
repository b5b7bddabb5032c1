"""An app process SIGKILLed mid-request and started again on the same port.

Requests in flight at the kill get no answer (a client sees a dropped connection and retries);
what was acknowledged before the kill must survive it: no lost ticket, no double admission, no
partial hold or booking. ``-s`` prints the figures docs/RELIABILITY.md quotes.
"""

from __future__ import annotations

import asyncio
import secrets

from fault_support import PrivatePostgres, Recorder, StartApp
from tk_sales import Sale, audit
from wr_crowd import Crowd, admitted_in_order, room_state

from fairgate.embedded import EmbeddedRedis, free_port


def _no_answer(rec: Recorder, phase: str) -> int:
    """Requests of this phase cut or refused: no HTTP answer (``before``: cut by the kill)."""
    return sum(o.status is None for o in rec.outcomes if o.phase == phase)


async def test_waitingroom_process_killed_mid_request(
    private_redis: EmbeddedRedis, start_app: StartApp, recorder: Recorder,
) -> None:
    wr = await start_app("waitingroom", REDIS_URL=private_redis.url)
    crowd = Crowd(recorder, [wr.url], f"app{secrets.token_hex(4)}")
    await crowd.configure("PUT")
    await asyncio.gather(*(crowd.join() for _ in range(30)))
    await crowd.configure(admit_per_minute=600)
    async with crowd.load(pollers=8, joiners=4):
        await asyncio.sleep(0.6)
        at_kill = await room_state(private_redis.url, crowd)
        # A burst of joins is on the wire when the process dies: some are cut mid-request.
        burst = asyncio.gather(*(crowd.join() for _ in range(40)))
        await asyncio.sleep(0.005)
        await asyncio.to_thread(wr.kill)
        recorder.phase = "killed"
        await burst
        await asyncio.sleep(0.3)
        recorder.phase = "after"
        await wr.start()
        await asyncio.sleep(0.5)
    final = await crowd.poll_everyone()
    state = await room_state(private_redis.url, crowd)
    recorder.figures("waitingroom SIGKILL", tickets=len(crowd.number_of),
                     admitted=len(state.admitted), ghosts=state.ghosts)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert _no_answer(recorder, "before") + _no_answer(recorder, "killed") > 0
    assert crowd.wrong == [] and all(o.status == 200 for o in final)
    numbers = list(crowd.number_of.values())
    assert len(set(numbers)) == len(numbers) and state.issued >= max(numbers)
    # Admission went on after the restart, in order, one number per visitor.
    assert len(state.admitted) > len(at_kill.admitted)
    assert admitted_in_order(state)
    assert len(set(state.admitted)) == len(state.admitted)


async def test_ticketing_process_killed_mid_request(
    private_pg: PrivatePostgres, start_app: StartApp, recorder: Recorder,
) -> None:
    tk = await start_app("ticketing", DATABASE_URL=private_pg.url,
                         WAITINGROOM_URL=f"http://127.0.0.1:{free_port()}")
    sale = Sale(recorder, tk.url)
    await sale.open(buyers=12)
    async with sale.load():
        await asyncio.sleep(0.7)
        await asyncio.to_thread(tk.kill)  # holds and confirms are in flight: some are cut
        recorder.phase = "killed"
        await asyncio.sleep(0.3)
        recorder.phase = "after"
        await tk.start()
        await asyncio.sleep(0.6)
    found = await audit(sale, private_pg.url)
    replay = await recorder.call("session", "POST", f"{tk.url}/api/session",
                                 json={"token": sale.used_tokens[0]})
    recorder.figures("ticketing SIGKILL", audit=found)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert _no_answer(recorder, "before") + _no_answer(recorder, "killed") > 0
    # Sessions are signed, not stored in the process: the buyers go on after the restart.
    after = recorder.tally("after")
    assert after["hold 201"] > 0 and after["confirm 201"] > 0
    for name in ("double_sales", "partial_holds", "orphan_held_seats", "partial_bookings",
                 "sold_not_booked", "booked_not_sold", "acknowledged_holds_lost",
                 "acknowledged_bookings_lost", "exchanged_tokens_forgotten"):
        assert found[name] == 0, (name, found)
    # An admission token exchanged before the kill cannot let a second person in after it.
    assert (replay.status, replay.body["error"]) == (409, "token_used")
