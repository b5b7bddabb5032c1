"""The room setting ``on_redis_failure`` with a real Redis that is stopped: ``fail_closed``
lets nobody in, ``fail_open`` sends visitors to the target with a valid admission token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sec_helpers import TARGET_URL, make_room

from fairgate.embedded import EmbeddedRedis
from fairgate.tokens import Signer


async def _until_redis_is_missed(client, path: str, headers: dict[str, str]):
    """Poll until the app stops answering from its cached snapshot (bounded)."""
    for _ in range(100):
        resp = await client.get(path, headers=headers)
        if resp.status != 200 or (await resp.json()).get("state") == "admitted":
            return resp
        await asyncio.sleep(0.1)
    raise AssertionError("the app never noticed that Redis is gone")


async def test_fail_open_and_fail_closed_with_redis_stopped(
    start_wr, settings, admin_headers, room_name, tmp_path: Path
) -> None:
    redis = EmbeddedRedis.start(tmp_path)
    try:
        client = await start_wr(redis_url=redis.url)
        opened, closed = room_name + "-open", room_name + "-closed"
        # Fails open, but admits nobody now: failing open must not let anyone in either.
        paused = room_name + "-paused"
        await make_room(client, opened, admin_headers, admit_per_minute=0,
                        on_redis_failure="fail_open")
        await make_room(client, closed, admin_headers, admit_per_minute=0)
        await make_room(client, paused, admin_headers, admit_per_minute=0,
                        on_redis_failure="fail_open")
        # Someone ahead in the open room takes its first admission, so the visitor under test
        # is still waiting when Redis goes away.
        await client.post(f"/api/rooms/{opened}/join", cookies={})
        client.session.cookie_jar.clear()
        tickets = {}
        for room in (opened, closed, paused):
            resp = await client.post(f"/api/rooms/{room}/join", cookies={})
            tickets[room] = (await resp.json())["ticket"]
            client.session.cookie_jar.clear()
            # Polled once so this process holds the room's settings.
            resp = await client.get(f"/api/rooms/{room}/status",
                                    headers={"X-Queue-Ticket": tickets[room]})
            assert (await resp.json())["state"] == "paused"
        resp = await client.patch(f"/admin/api/rooms/{opened}", json={"admit_per_minute": 1},
                                  headers=admin_headers)
        assert resp.status == 200
        for _ in range(100):  # until this process's snapshot holds the new knob
            resp = await client.get(f"/api/rooms/{opened}/status",
                                    headers={"X-Queue-Ticket": tickets[opened]})
            if (await resp.json())["state"] == "waiting":
                break
            await asyncio.sleep(0.1)
        assert (await resp.json())["state"] == "waiting"

        redis.kill()

        resp, open_resp = await asyncio.gather(
            _until_redis_is_missed(client, f"/api/rooms/{closed}/status",
                                   {"X-Queue-Ticket": tickets[closed]}),
            _until_redis_is_missed(client, f"/api/rooms/{opened}/status",
                                   {"X-Queue-Ticket": tickets[opened]}))
        body = await resp.json()
        assert resp.status == 503 and resp.headers["Retry-After"], body
        assert "redirect_url" not in body
        resp = await client.post(f"/api/rooms/{closed}/join", cookies={})
        assert resp.status == 503
        client.session.cookie_jar.clear()

        signer = Signer(settings.secret_keys)
        resp = open_resp
        body = await resp.json()
        assert resp.status == 200 and body["state"] == "admitted" and body["fail_open"], body
        url = urlsplit(body["redirect_url"])
        assert body["redirect_url"].startswith(TARGET_URL + "?token=")
        admission = signer.load_admission(parse_qs(url.query)["token"][0])
        ticket = signer.load_ticket(tickets[opened])
        assert (admission.room, admission.visitor, admission.number) == (
            opened, ticket.visitor, ticket.number)

        # A newcomer is sent through too, without a ticket (no number can be recorded).
        resp = await client.post(f"/api/rooms/{opened}/join", cookies={})
        body = await resp.json()
        assert resp.status == 200 and body["ticket"] is None and body["redirect_url"], body
        assert signer.load_admission(
            parse_qs(urlsplit(body["redirect_url"]).query)["token"][0]).room == opened
        client.session.cookie_jar.clear()
        # The queue page goes straight to the target.
        resp = await client.get(f"/r/{opened}", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith(TARGET_URL)
        resp = await client.get(f"/r/{closed}", allow_redirects=False)
        assert resp.status == 503
        resp = await _until_redis_is_missed(client, f"/api/rooms/{paused}/status",
                                            {"X-Queue-Ticket": tickets[paused]})
        assert resp.status == 503 and "redirect_url" not in await resp.json()
        resp = await client.get(f"/r/{paused}", allow_redirects=False)
        assert resp.status == 503
    finally:
        redis.stop()
