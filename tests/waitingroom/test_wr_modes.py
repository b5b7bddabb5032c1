"""Room modes against the real Redis: fifo (the default), random, passthrough, reject, standby;
their validation through the admin API; and the operator's "what if" preview."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from wr_support import StartApp, base_url, join, make_room, status

from fairgate.tokens import Signer
from waitingroom.appkeys import QUEUE_KEY
from waitingroom.keys import RoomKeys

SIGNER = Signer(("test-newest-key-0123456789abcdef",))


def _visitor(answer: dict[str, Any]) -> str:
    return SIGNER.load_ticket(answer["ticket"]).visitor


async def _until(predicate: Any, timeout_s: float = 5.0) -> None:
    """Wait for ``await predicate()`` to hold; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def _patch(client: TestClient, room: str, headers: dict[str, str], **body: Any) -> Any:
    resp = await client.patch(f"/admin/api/rooms/{room}", json=body, headers=headers)
    return resp.status, await resp.json()


async def test_mode_settings_are_validated_all_or_nothing(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    created = await make_room(client, room_name, admin_headers)
    assert created["mode"] == "fifo" and created["standby_max_per_minute"] == 600

    for body, field in (
        ({"mode": "lottery"}, "mode"),
        ({"mode": 3}, "mode"),
        ({"mode": "standby", "standby_max_per_minute": -1}, "standby_max_per_minute"),
        ({"mode": "random", "standby_max_per_minute": "ten"}, "standby_max_per_minute"),
        ({"admit_per_minute": 5, "mode": None}, "mode"),
    ):
        code, answer = await _patch(client, room_name, admin_headers, **body)
        assert code == 422 and answer["field"] == field, (body, answer)
    resp = await client.put(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                            json={"target_url": "http://127.0.0.1:9/x", "mode": "queue"})
    assert resp.status == 422 and (await resp.json())["field"] == "mode"

    shown = await (await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)).json()
    assert (shown["mode"], shown["admit_per_minute"]) == ("fifo", 60)  # nothing half-applied

    code, answer = await _patch(client, room_name, admin_headers, mode="standby",
                                standby_max_per_minute=120)
    assert code == 200 and (answer["mode"], answer["standby_max_per_minute"]) == ("standby", 120)
    stats = await (await client.get(f"/admin/api/rooms/{room_name}/stats",
                                    headers=admin_headers)).json()
    assert stats["mode"] == "standby"


async def test_reject_turns_newcomers_away_and_keeps_places(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    base = base_url(client)
    held = await join(anon, base, room_name)
    assert (await _patch(client, room_name, admin_headers, mode="reject"))[0] == 200
    await asyncio.sleep(0.15)  # past the snapshot interval

    async with anon.post(f"{base}/api/rooms/{room_name}/join") as resp:
        body = await resp.json()
        assert resp.status == 409 and body["error"] == "sold_out", body
    # Whoever already holds a place keeps it.
    kept = await status(anon, base, room_name, held["ticket"])
    assert kept["number"] == held["number"] and kept["state"] == "paused"

    for lang, words in (("en", "Sold out for now"), ("ko", "매진")):
        async with anon.get(f"{base}/r/{room_name}", headers={"Accept-Language": lang}) as resp:
            page = await resp.text()
            assert resp.status == 200 and words in page
            assert 'id="queue"' not in page  # a finished page: no polling script

    assert (await _patch(client, room_name, admin_headers, mode="fifo"))[0] == 200
    await asyncio.sleep(0.15)
    again = await join(anon, base, room_name)
    assert again["number"] == held["number"] + 1  # the refused joins took no number


async def test_passthrough_admits_at_once_up_to_max_active_without_rate_credit(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    # One admission a minute: in fifo the two queued below would wait a minute each.
    await make_room(client, room_name, admin_headers, mode="passthrough", admit_per_minute=1,
                    max_active=2)
    base = base_url(client)
    first = [await join(anon, base, room_name) for _ in range(2)]
    for answer in first:
        assert answer["state"] == "admitted" and "token=" in answer["redirect_url"]
        assert answer["eta_s"] == 0 and answer["eta_range_s"] == [0, 0]
    queued = [await join(anon, base, room_name) for _ in range(2)]
    assert [a["state"] for a in queued] == ["waiting", "waiting"]  # max_active still holds
    assert [a["number"] for a in queued] == [3, 4]

    for answer in first:  # both buyers finish
        async with anon.post(f"{base}/api/rooms/{room_name}/leave",
                             headers={"X-Queue-Ticket": answer["ticket"]}) as resp:
            assert resp.status == 200

    async def both_in() -> bool:
        answers = [await status(anon, base, room_name, a["ticket"]) for a in queued]
        return all(a["state"] == "admitted" for a in answers)

    await _until(both_in)
    assert int(await redis_client.get(RoomKeys(room_name).serving)) == 4


async def test_standby_lets_through_until_a_limit_then_queues_in_order(
    start_app: StartApp, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    apps = [await start_app(WR_LAPSE_S="3600") for _ in range(2)]
    await make_room(apps[0], room_name, admin_headers, mode="standby", standby_max_per_minute=3,
                    admit_per_minute=600, max_active=1000)
    bases = [base_url(app) for app in apps]
    # Twelve arrivals at once through two processes: the decision is one script, so exactly
    # three go straight through.
    answers = await asyncio.gather(*(join(anon, bases[i % 2], room_name) for i in range(12)))
    straight = [a for a in answers if a["state"] == "admitted"]
    waiting = sorted((a for a in answers if a["state"] == "waiting"), key=lambda a: a["number"])
    assert len(straight) == 3 and len(waiting) == 9
    assert all(
        a["position"] >= 1 and a["eta_range_s"][0] <= a["eta_s"] <= a["eta_range_s"][1]
        for a in waiting
    )

    k = RoomKeys(room_name)

    async def drained() -> bool:
        return await redis_client.zcard(k.queue) == 0

    await _until(drained)
    # The queue went through in ticket order.
    admitted_at = {v: t for v, t in await redis_client.zrange(k.active, 0, -1, withscores=True)}
    times = [admitted_at[_visitor(a)] for a in waiting]
    assert times == sorted(times)

    # Twelve went in within the minute: a newcomer now queues although nobody waits.
    late = await join(anon, bases[0], room_name)
    assert late["state"] == "waiting"

    # A full max_active also makes standby queue.
    small = room_name + "-b"
    await make_room(apps[0], small, admin_headers, mode="standby", max_active=1,
                    admit_per_minute=600)
    assert (await join(anon, bases[1], small))["state"] == "admitted"
    assert (await join(anon, bases[1], small))["state"] == "waiting"
    await apps[0].delete(f"/admin/api/rooms/{small}", headers=admin_headers)


async def test_random_admits_a_lottery_sample_not_the_front(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    await make_room(client, room_name, admin_headers, mode="random", admit_per_minute=0,
                    max_active=20)
    base = base_url(client)
    answers = [await join(anon, base, room_name) for _ in range(60)]
    number_of = {_visitor(a): a["number"] for a in answers}
    assert (await _patch(client, room_name, admin_headers, admit_per_minute=6000))[0] == 200
    k = RoomKeys(room_name)

    async def full() -> bool:
        return await redis_client.zcard(k.active) == 20

    await _until(full)
    drawn = sorted(number_of[v] for v in await redis_client.zrange(k.active, 0, -1))
    # FIFO would admit exactly 1..20; a uniform draw of 20 of 60 does so with odds of 1 in
    # 4e15, and misses all of 41..60 with odds of about 1 in 30,000.
    assert drawn != list(range(1, 21))
    assert max(drawn) > 40

    # Polls learn the result from Redis: the drawn are admitted, the others wait without a place.
    lucky = next(a for a in answers if a["number"] == drawn[-1])
    assert (await status(anon, base, room_name, lucky["ticket"]))["state"] == "admitted"
    other = next(a for a in answers if a["number"] not in drawn)
    s = await status(anon, base, room_name, other["ticket"])
    assert s["state"] == "waiting" and s["position"] is None and s["ahead"] is None
    low, high = s["eta_range_s"]
    assert low <= s["eta_s"] <= high


async def test_preview_answers_what_if_for_a_proposed_rate(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=0, max_active=10_000)
    base = base_url(client)
    await asyncio.gather(*(join(anon, base, room_name) for _ in range(120)))
    url = f"/admin/api/rooms/{room_name}/preview"

    resp = await client.get(url, params={"admit_per_minute": "60"}, headers=admin_headers)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["admit_per_minute"] == 60 and body["queue_length"] == 120
    # The last of 120 at 60 a minute: about two minutes, inside its own range.
    assert body["last_wait_s"] == 120
    low, high = body["last_wait_range_s"]
    assert low < 120 < high
    assert body["current"] == {"admit_per_minute": 0, "last_wait_s": None,
                               "last_wait_range_s": None}
    faster = await (await client.get(url, params={"admit_per_minute": "600"},
                                     headers=admin_headers)).json()
    assert faster["last_wait_s"] == 12

    for bad in ("", "-1", "1.5", "lots", "10000001"):
        resp = await client.get(url, params={"admit_per_minute": bad}, headers=admin_headers)
        answer = await resp.json()
        assert resp.status == 422 and answer["field"] == "admit_per_minute", (bad, answer)
    resp = await client.get(url, headers=admin_headers)
    assert resp.status == 422 and (await resp.json())["field"] == "admit_per_minute"
    resp = await client.get(url, params={"admit_per_minute": "60"})
    assert resp.status == 401
    resp = await client.get("/admin/api/rooms/nosuchroom/preview",
                            params={"admit_per_minute": "60"}, headers=admin_headers)
    assert resp.status == 404


@pytest.mark.browser
async def test_the_sold_out_and_lottery_pages_in_a_browser(
    browser: Any, client: TestClient, anon: ClientSession, room_name: str,
    admin_headers: dict[str, str], artifacts: Path,
) -> None:
    await make_room(client, room_name, admin_headers, mode="reject")
    for lang, viewport, heading in (("en", {"width": 1280, "height": 700}, "Sold out for now"),
                                    ("ko", {"width": 375, "height": 700}, "지금은 매진되었습니다")):
        context = await browser.new_context(
            viewport=viewport, locale=lang, extra_http_headers={"Accept-Language": lang})
        page = await context.new_page()
        resp = await page.goto(f"{base_url(client)}/r/{room_name}")
        assert resp.status == 200
        assert await page.text_content("h1") == heading
        assert await page.is_visible(".problem-body")
        await page.screenshot(path=str(artifacts / f"queue-sold-out-{lang}.png"), full_page=True)
        await context.close()

    lottery = room_name + "-draw"
    await make_room(client, lottery, admin_headers, mode="random", admit_per_minute=30)
    await asyncio.gather(*(join(anon, base_url(client), lottery) for _ in range(40)))
    # A snapshot read before the joins counts an empty draw, whose wait has no range to show:
    # the page below must see the forty.
    await client.app[QUEUE_KEY].snapshots.fresh(lottery)
    context = await browser.new_context(viewport={"width": 375, "height": 812}, locale="en")
    page = await context.new_page()
    await page.goto(f"{base_url(client)}/r/{lottery}")
    assert await page.text_content("#ahead") == "Random draw"
    assert await page.is_visible(".draw-note")
    assert (await page.text_content("#eta-range")).startswith("likely within")
    await page.screenshot(path=str(artifacts / "queue-lottery-phone-en.png"), full_page=True)
    await context.close()
    await client.delete(f"/admin/api/rooms/{lottery}", headers=admin_headers)
