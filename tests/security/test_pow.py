"""Proof of work at join: a script pays for every new ticket, a browser solves it by itself,
a returning visitor never pays, and the settings are validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from sec_helpers import make_room

from waitingroom import pow as pow_mod


async def _issued(redis_client: Redis, room: str) -> int:
    from waitingroom import keys

    return int(await redis_client.get(keys.RoomKeys(room).issued) or 0)


def test_leading_zero_bits() -> None:
    assert pow_mod.leading_zero_bits(b"\x00\x00\xff") == 16
    assert pow_mod.leading_zero_bits(b"\x00\x01") == 15
    assert pow_mod.leading_zero_bits(b"\x80") == 0
    challenge = "c"
    solution = pow_mod.solve(challenge, 10)
    assert pow_mod.work_bits(challenge, solution) >= 10


@pytest.mark.parametrize("field,value", [
    ("pow_difficulty", 25), ("pow_difficulty", -1), ("pow_difficulty", "8"),
    ("on_redis_failure", "maybe"), ("on_redis_failure", None),
])
async def test_settings_are_validated(start_wr, admin_headers, room_name, field, value) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    resp = await client.patch(f"/admin/api/rooms/{room_name}", json={field: value},
                              headers=admin_headers)
    body = await resp.json()
    assert (resp.status, body["error"], body["field"]) == (422, "validation_failed", field)
    resp = await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)
    current = await resp.json()
    assert (current["pow_difficulty"], current["on_redis_failure"]) == (0, "fail_closed")


async def test_every_new_ticket_costs_a_fresh_solution(
    start_wr, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0, pow_difficulty=8)
    await make_room(client, room_name + "-b", admin_headers, pow_difficulty=8)
    url = f"/api/rooms/{room_name}/join"

    resp = await client.post(url)
    body = await resp.json()
    assert (resp.status, body["error"]) == (428, "pow_required")
    challenge = body["pow"]
    assert challenge["difficulty"] == 8 and challenge["algorithm"] == pow_mod.ALGORITHM
    solution = pow_mod.solve(challenge["challenge"], 8)

    wrong = str(int(solution) + 1)
    while pow_mod.work_bits(challenge["challenge"], wrong) >= 8:
        wrong = str(int(wrong) + 1)
    other = await (await client.post(f"/api/rooms/{room_name}-b/join")).json()
    for bad in ({"challenge": challenge["challenge"], "solution": wrong},
                {"challenge": other["pow"]["challenge"],
                 "solution": pow_mod.solve(other["pow"]["challenge"], 8)},
                {"challenge": "forged", "solution": "1"}, "not an object"):
        resp = await client.post(url, json={"pow": bad})
        assert resp.status == 428, bad
    assert await _issued(redis_client, room_name) == 0

    proof = {"challenge": challenge["challenge"], "solution": solution}
    resp = await client.post(url, json={"pow": proof}, cookies={})
    first = await resp.json()
    assert resp.status == 200, first
    client.session.cookie_jar.clear()
    # The same solution again: spent.
    resp = await client.post(url, json={"pow": proof})
    assert (resp.status, (await resp.json())["error"]) == (428, "pow_required")
    # A returning visitor with a ticket pays nothing and keeps the number.
    resp = await client.post(url, headers={"X-Queue-Ticket": first["ticket"]})
    assert resp.status == 200 and (await resp.json())["number"] == first["number"]
    assert await _issued(redis_client, room_name) == 1
    # A finished ticket is not a free pass to a new number: leave, then re-join with it.
    resp = await client.post(f"/api/rooms/{room_name}/leave",
                             headers={"X-Queue-Ticket": first["ticket"]})
    assert resp.status in (200, 204), await resp.text()
    resp = await client.post(url, headers={"X-Queue-Ticket": first["ticket"]})
    body = await resp.json()
    assert (resp.status, body["error"]) == (428, "pow_required"), body
    assert await _issued(redis_client, room_name) == 1
    again = body["pow"]
    proof = {"challenge": again["challenge"], "solution": pow_mod.solve(again["challenge"], 8)}
    resp = await client.post(url, json={"pow": proof},
                             headers={"X-Queue-Ticket": first["ticket"]})
    assert resp.status == 200 and (await resp.json())["number"] == 2


@pytest.mark.browser
async def test_the_queue_page_solves_and_joins(
    start_wr, browser, admin_headers, room_name, redis_client, artifacts: Path
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0, pow_difficulty=12)
    base = str(client.make_url("")).rstrip("/")
    context = await browser.new_context(viewport={"width": 390, "height": 760})
    page = await context.new_page()
    try:
        await page.goto(f"{base}/r/{room_name}")
        await page.wait_for_selector("#queue[data-number]", timeout=30_000)
        number = await page.get_attribute("#queue", "data-number")
        assert number == "1"
        assert await _issued(redis_client, room_name) == 1
        # A page still solving (a level it will not finish during the test), and its SHA-256
        # agreeing with the browser's own crypto.subtle on inputs across block boundaries.
        await make_room(client, room_name + "-solving", admin_headers, admit_per_minute=0,
                        pow_difficulty=24)
        await page.close()
        page = await context.new_page()
        await page.goto(f"{base}/r/{room_name}-solving", wait_until="commit")
        await page.wait_for_selector("#pow[data-state=solving]")
        await page.wait_for_selector("#pow-working", state="visible")
        assert await page.is_visible("#pow-lead")
        await page.screenshot(path=str(artifacts / "queue-pow-solving-phone-en.png"))
        same = await page.evaluate("""async () => {
            const enc = new TextEncoder(), out = [];
            for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 300]) {
              const data = enc.encode("x".repeat(n));
              const a = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
              const b = FairgatePow.sha256(data);
              out.push(a.every((v, i) => v === b[i]));
            }
            return out;
        }""")
        assert same == [True] * 10
    finally:
        await context.close()
    # Without JavaScript nothing solves: no "Checking…" spinner, only the line that says why.
    context = await browser.new_context(viewport={"width": 390, "height": 760},
                                        java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto(f"{base}/r/{room_name}-solving")
        assert await page.is_hidden("#pow-working")
        assert await page.is_hidden("#pow-lead")  # "keep this page open" would be wrong here
        assert "needs JavaScript" in await page.text_content("#pow")
        await page.screenshot(path=str(artifacts / "queue-pow-nojs-phone-en.png"))
    finally:
        await context.close()
