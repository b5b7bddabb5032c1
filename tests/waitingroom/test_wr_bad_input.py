"""Bad input gets a clear 4xx JSON answer, never a 500; bad tickets count as no ticket."""

from __future__ import annotations

import time

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from redis.asyncio import Redis
from wr_support import base_url, join, make_room

from waitingroom.keys import RoomKeys

NEWEST_KEY = "test-newest-key-0123456789abcdef"


class _LastWeekSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 8 * 24 * 3600


async def _error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["message"]
    if code:
        assert body["error"] == code, body
    return body


async def test_unknown_room_is_404_json(client: TestClient, room_name: str) -> None:
    await _error(await client.post(f"/api/rooms/{room_name}/join"), 404, "room_not_found")
    await _error(await client.get(f"/api/rooms/{room_name}/status"), 404, "room_not_found")
    page = await client.get(f"/r/{room_name}")
    assert page.status == 404 and "text/html" in page.content_type


async def test_invalid_room_names_are_400(client: TestClient) -> None:
    # "%0A": a line feed after the name, which a $-anchored pattern would let through.
    for name in ("Upper", "under_score", "-lead", "a" * 64, "dot.ted", "trail%0A"):
        await _error(await client.post(f"/api/rooms/{name}/join"), 400, "invalid_room")
        await _error(await client.get(f"/api/rooms/{name}/status"), 400, "invalid_room")
    page = await client.get("/r/Not_Valid")
    assert page.status == 400 and "Check the link you were given." in await page.text()
    page = await client.get("/r/no-such-room-here")
    assert page.status == 404 and "Check the link you were given." in await page.text()


async def test_malformed_json_and_huge_bodies(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers)
    json_type = {"Content-Type": "application/json"}
    await _error(await client.post(f"/api/rooms/{room_name}/join", data=b"{", headers=json_type),
                 400, "invalid_json")
    await _error(await client.post(f"/api/rooms/{room_name}/join", data=b"[1]",
                                   headers=json_type), 400, "invalid_json")
    await _error(await client.patch(f"/admin/api/rooms/{room_name}", data=b"{nope",
                                    headers={**admin_headers, **json_type}), 400, "invalid_json")
    # Nested deeper than a parser recurses, yet within the size limit: refused, not a 500.
    await _error(await client.post(f"/api/rooms/{room_name}/join", data=b"[" * 50_000,
                                   headers=json_type), 400, "invalid_json")
    huge = b'{"x": "' + b"a" * 100_000 + b'"}'
    await _error(await client.post(f"/api/rooms/{room_name}/join", data=huge,
                                   headers=json_type), 413)


async def test_forged_expired_and_foreign_tickets_mean_a_fresh_join(
    client: TestClient, anon: ClientSession, room_name: str, admin_headers: dict[str, str],
    redis_client: Redis,
) -> None:
    other = room_name + "-other"
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    await make_room(client, other, admin_headers, admit_per_minute=0)
    base = base_url(client)
    mine = await join(anon, base, room_name)
    assert mine["number"] == 1

    payload, _, signature = mine["ticket"].rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    expired = URLSafeTimedSerializer(
        NEWEST_KEY, salt="fairgate.ticket", signer=_LastWeekSigner
    ).dumps([room_name, "f" * 32, 1, time.time() - 8 * 24 * 3600])
    foreign = (await join(anon, base, other))["ticket"]
    garbage = "not-a-ticket"

    numbers = []
    for bad in (forged, expired, foreign, garbage, "x" * 5000):
        fresh = await join(anon, base, room_name, bad)
        assert fresh["ticket"] != bad
        numbers.append(fresh["number"])
        async with anon.get(f"{base}/api/rooms/{room_name}/status",
                            headers={"X-Queue-Ticket": bad}) as resp:
            await _error(resp, 400, "no_ticket")
    assert numbers == [2, 3, 4, 5, 6]
    assert int(await redis_client.get(RoomKeys(room_name).issued)) == 6
    async with anon.get(f"{base}/api/rooms/{room_name}/status") as resp:
        await _error(resp, 400, "no_ticket")


async def test_admin_api_needs_the_token(client: TestClient, room_name: str) -> None:
    await _error(await client.get("/admin/api/rooms"), 401, "unauthorized")
    await _error(await client.put(f"/admin/api/rooms/{room_name}", json={},
                                  headers={"Authorization": "Bearer wrong"}), 401)
