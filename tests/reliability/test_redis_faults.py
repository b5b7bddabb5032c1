"""Redis killed, wiped and slowed under load, behind real waiting-room processes.

Each test owns its Redis and app processes. Clients have a bounded timeout, and every outcome
is recorded, so the assertions count: no 500, no hung request, no lost place, admission in
ticket order, nobody admitted twice. ``-s`` prints the figures docs/RELIABILITY.md
quotes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from fault_support import Recorder, StartApp
from redis.asyncio import Redis
from wr_crowd import Crowd, admitted_in_order, room_state, session_ends

from fairgate.embedded import EmbeddedRedis

SESSION_S = 4  # session_ttl of the room restarted empty


def _room(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def _wipe(server: EmbeddedRedis) -> None:
    """Kill Redis and delete what it would replay: it comes back empty."""
    server.kill()
    for path in server.directory.iterdir():
        if path.suffix in (".aof", ".rdb") or path.name == "appendonlydir":
            path.unlink()
    server.restart()


@pytest.mark.browser
async def test_redis_killed_under_load(
    private_redis: EmbeddedRedis, start_app: StartApp, recorder: Recorder, browser: Any,
) -> None:
    wr = await start_app("waitingroom", REDIS_URL=private_redis.url)
    crowd = Crowd(recorder, [wr.url], _room("kill"))
    await crowd.configure("PUT")
    await asyncio.gather(*(crowd.join() for _ in range(40)))
    await crowd.configure(admit_per_minute=300)  # 5 a second: the queue outlives the test

    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{wr.url}/r/{crowd.room}")
    number_on_page = await page.text_content("#number")

    async with crowd.load(pollers=10, joiners=2):
        await asyncio.sleep(0.8)
        at_kill = await room_state(private_redis.url, crowd)
        recorder.phase = "outage"
        await asyncio.to_thread(private_redis.kill)
        killed_at = time.monotonic()
        # Polls are answered from the snapshot for a few seconds, then 503: the open page's
        # own polls turn into "reconnecting".
        await page.wait_for_selector("#reconnecting", state="visible", timeout=20_000)
        fresh = await recorder.call("page", "GET", f"{wr.url}/r/{crowd.room}")
        assert fresh.status == 503 and "reconnecting" in fresh.body.lower()
        outage_s = time.monotonic() - killed_at

        recorder.phase = "after"
        await asyncio.to_thread(private_redis.restart)
        # (The page's own recovery, backing off and retrying, is tests/waitingroom/
        # test_wr_browser.py's; here the visitor reloads.)
        await page.reload()
        assert await page.is_hidden("#reconnecting")
        assert await page.text_content("#number") == number_on_page
        await context.close()
        await asyncio.sleep(0.5)

    final = await crowd.poll_everyone()
    state = await room_state(private_redis.url, crowd)
    recorder.figures("redis SIGKILL", outage_s=round(outage_s, 1),
                     tickets=len(crowd.number_of), admitted_at_kill=len(at_kill.admitted),
                     admitted_after=len(state.admitted), ghosts=state.ghosts)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert all(o.status is not None for o in recorder.outcomes)  # every request was answered
    during = recorder.tally("outage")
    assert set(during) <= {"status 200", "status 503", "join 503", "page 503"}, during
    assert during["status 503"] > 0 and during["join 503"] > 0
    # Nobody lost a place: every ticket handed out still shows its number.
    assert crowd.wrong == [] and all(o.status == 200 for o in final)
    numbers = list(crowd.number_of.values())
    assert len(set(numbers)) == len(numbers)
    assert state.issued >= max(numbers)
    # Admission resumed after the restart, in ticket order.
    assert len(state.admitted) > len(at_kill.admitted)
    assert admitted_in_order(state), state


async def test_redis_restarted_empty(
    private_redis: EmbeddedRedis, start_app: StartApp, recorder: Recorder,
) -> None:
    first, second = await asyncio.gather(
        start_app("waitingroom", REDIS_URL=private_redis.url),
        start_app("waitingroom", REDIS_URL=private_redis.url))
    crowd = Crowd(recorder, [first.url, second.url], _room("empty"))
    # Sessions of 4 s: long enough to outlast the restart, short enough to end in the test.
    await crowd.configure("PUT", max_active=10, session_ttl=SESSION_S)
    await asyncio.gather(*(crowd.join() for _ in range(30)))
    await crowd.configure(admit_per_minute=6000)
    await asyncio.sleep(1.0)  # ten admitted, then max_active stops admission
    await crowd.poll_everyone()
    before = await room_state(private_redis.url, crowd)
    assert before.admitted == list(range(1, 11))

    recorder.phase = "wiped"
    await asyncio.to_thread(_wipe, private_redis)
    tickets = crowd.tickets()
    # The visitors come back in two waves, the later numbers first, each through its own
    # process: admission must not call 21-30 before 11-20 are back (their turn would be over).
    early = await asyncio.gather(*(crowd.poll(t, first.url) for t in tickets[20:]))
    # The restore held the ten sessions' max_active slots: their tokens still work in the
    # ticketing app, so admitting ten more now would let twenty in at once.
    for _ in range(50):  # a poll that refreshes the snapshot notices the loss and restores
        restored = await room_state(private_redis.url, crowd)
        if restored.issued:
            break
        await asyncio.sleep(0.1)
        early += await asyncio.gather(*(crowd.poll(t, first.url) for t in tickets[20:]))
    assert restored.held_slots == 10 and restored.admitted == [], restored
    await asyncio.sleep(1.0)  # several heartbeat intervals and admission ticks
    late = await asyncio.gather(*(crowd.poll(t, second.url) for t in tickets[:20]))
    rejoined = await asyncio.gather(*(crowd.join(t) for t in tickets[10:15]))
    newcomers = await asyncio.gather(*(crowd.join() for _ in range(5)))
    # Everyone keeps polling; admission resumes once the restore pause (WR_RESTORE_PAUSE_MS,
    # 2.4 s here, extended by the second process's restore) is over and the held slots have
    # ended, until max_active is full.
    for _ in range(30):
        await asyncio.sleep(0.4)
        await crowd.poll_everyone()
        after = await room_state(private_redis.url, crowd)
        if len(after.admitted) >= 10:
            break
    recorder.figures("redis restarted empty", before=before, after=after)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert all(o.status == 200 for o in early + late[10:]) and crowd.wrong == []
    # Admitted visitors hold their tokens; their turn is over, they are not admitted again.
    assert {o.status for o in late[:10]} == {410}
    assert [o.body["number"] for o in rejoined] == list(range(11, 16))
    assert sorted(o.body["number"] for o in newcomers) == list(range(31, 36))
    assert after.issued >= 35
    # Admission resumed with the next numbers; nobody admitted before is admitted twice.
    assert after.admitted == list(range(11, 21))
    assert set(after.admitted).isdisjoint(before.admitted)
    assert admitted_in_order(after) and after.ghosts == 0
    # Nobody was admitted before the held slots ended: a session admitted then would end
    # SESSION_S after them at the earliest (0.5 s of leeway for the tick's clock reading).
    ends = await session_ends(private_redis.url, crowd)
    assert min(ends[n] for n in after.admitted) >= restored.held_until + SESSION_S - 0.5


async def test_redis_slow(
    private_redis: EmbeddedRedis, start_app: StartApp, recorder: Recorder,
) -> None:
    wr = await start_app("waitingroom", REDIS_URL=private_redis.url)
    crowd = Crowd(recorder, [wr.url], _room("slow"))
    await crowd.configure("PUT")
    await asyncio.gather(*(crowd.join() for _ in range(20)))
    # A client with no reply timeout of its own: DEBUG SLEEP answers only after the sleep.
    operator = Redis.from_url(private_redis.url, decode_responses=True)
    async with crowd.load(pollers=8, joiners=2):
        await asyncio.sleep(0.3)
        # Both stalls outlast the app's 1.5 s Redis timeout (waitingroom.storage.TIMEOUT_S).
        recorder.phase = "client-pause"
        await operator.execute_command("CLIENT", "PAUSE", "2000", "ALL")
        await asyncio.sleep(2.2)
        recorder.phase = "debug-sleep"
        await operator.execute_command("DEBUG", "SLEEP", "2")
        await asyncio.sleep(0.2)
        recorder.phase = "after"
        await asyncio.sleep(0.6)
    await operator.aclose()
    final = await crowd.poll_everyone()
    state = await room_state(private_redis.url, crowd)
    recorder.figures("redis slow", ghosts=state.ghosts, issued=state.issued)

    assert recorder.server_errors() == [] and recorder.hung() == []
    assert all(o.status is not None for o in recorder.outcomes)
    for phase in ("client-pause", "debug-sleep"):
        tally = recorder.tally(phase)
        # The snapshot keeps every poll answering; joins give up on Redis with a clean 503.
        assert set(tally) <= {"status 200", "join 200", "join 503"}, (phase, tally)
        assert tally["join 503"] > 0, (phase, tally)
    assert recorder.tally("after")["join 200"] > 0
    assert crowd.wrong == [] and all(o.status == 200 for o in final)
    numbers = list(crowd.number_of.values())
    assert len(set(numbers)) == len(numbers) and state.issued >= max(numbers)

