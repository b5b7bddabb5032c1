"""The seat map's ETag, and live changes over server-sent events, coalesced per window."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from tk_helpers import Tk


class SeatStream:
    """Reads ``event: seats`` frames of one open stream in the background."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.messages: list[dict] = []
        self.status: dict[int, str] = {}
        self._changed = asyncio.Event()

    async def run(self) -> None:
        event, data = "", ""
        async for raw in self.resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                if event == "seats":
                    payload = json.loads(data)
                    self.messages.append(payload)
                    for seat in payload["seats"]:
                        self.status[seat["id"]] = seat["status"]
                    self._changed.set()
                event, data = "", ""

    async def wait_until(self, seat_ids: list[int], status: str, within_s: float = 10) -> None:
        async with asyncio.timeout(within_s):
            while not all(self.status.get(s) == status for s in seat_ids):
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def open_stream(tk: Tk, event_id: int, headers: dict[str, str],
                      since: int | None = None) -> AsyncIterator[SeatStream]:
    params = {} if since is None else {"since": str(since)}
    async with tk.http.get(tk.url(f"/api/events/{event_id}/seats/stream"), headers=headers,
                           params=params) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = SeatStream(resp)
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.sleep(0.1)  # the server has subscribed once headers arrived
            yield stream
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_seat_map_etag_and_version(tk: Tk) -> None:
    event = await tk.create_event()
    headers = await tk.session(event.room)
    path = tk.url(f"/api/events/{event.id}/seats")
    async with tk.http.get(path, headers=headers) as resp:
        etag = resp.headers["ETag"]
        version = (await resp.json())["version"]
    async with tk.http.get(path, headers={**headers, "If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
    status, _ = await tk.hold(event, await tk.session(event.room), event.seat_ids[:1])
    assert status == 201
    async with tk.http.get(path, headers={**headers, "If-None-Match": etag}) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] != etag
        body = await resp.json()
    assert body["version"] > version
    assert body["seats"][0]["status"] == "held"


async def test_stream_replays_since_a_version_then_follows_live(tk: Tk) -> None:
    event = await tk.create_event()
    viewer = await tk.session(event.room)
    buyer = await tk.session(event.room)
    _status, seat_map = await tk.call("GET", f"/api/events/{event.id}/seats", viewer)
    # A change between loading the map and opening the stream is not lost.
    status, hold = await tk.hold(event, buyer, event.seat_ids[:1])
    assert status == 201
    async with open_stream(tk, event.id, viewer, since=seat_map["version"]) as stream:
        await stream.wait_until(event.seat_ids[:1], "held")
        status, _ = await tk.confirm(hold["hold_id"], buyer)
        assert status == 201
        await stream.wait_until(event.seat_ids[:1], "sold")
        status, _ = await tk.hold(event, buyer, event.seat_ids[5:7])
        await stream.wait_until(event.seat_ids[5:7], "held")


async def test_a_since_that_is_no_version_is_refused(tk: Tk) -> None:
    event = await tk.create_event()
    viewer = await tk.session(event.room)
    # "²" is a digit to str.isdigit(), not to int().
    for bad in ("x", "-1", "1.5", "²", "9" * 19):
        status, body = await tk.call("GET", f"/api/events/{event.id}/seats/stream", viewer,
                                     params={"since": bad})
        assert (status, body["error"]) == (422, "invalid_since"), bad


async def test_a_burst_of_500_changes_is_a_few_messages(tk: Tk) -> None:
    event = await tk.create_event(limit=20, ttl=2, sections=[
        {"name": "A", "rows": 5, "seats_per_row": 100, "price": 1000}])
    viewer = await tk.session(event.room)
    buyers = list(await asyncio.gather(*(tk.session(event.room) for _ in range(25))))
    async with open_stream(tk, event.id, viewer) as stream:
        results = await asyncio.gather(*(
            tk.hold(event, headers, event.seat_ids[i * 20:(i + 1) * 20])
            for i, headers in enumerate(buyers)
        ))
        assert [status for status, _ in results] == [201] * 25
        await stream.wait_until(event.seat_ids, "held")
        held_messages = len(stream.messages)
        # The sweeper frees all 500 once the holds expire: one or a few messages again.
        await stream.wait_until(event.seat_ids, "free", within_s=15)
        freed_messages = len(stream.messages) - held_messages
    # 25 committed transactions, 500 seat changes each way, arrive as far fewer messages.
    assert held_messages < 25
    assert freed_messages <= 6
