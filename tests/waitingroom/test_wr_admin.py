"""The admin API: create, change (all or nothing), read, delete, figures (the CLI over it is in
test_wr_ops_cli.py)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from wr_support import TARGET_URL, make_room

ADMIN = "test-admin-token-0123456789abcdef"


async def test_room_lifecycle(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    resp = await client.put(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                            json={"target_url": TARGET_URL, "admit_per_minute": 30})
    assert resp.status == 201
    created = await resp.json()
    assert created["max_active"] == 100 and created["state"] == "open"
    resp = await client.put(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                            json={"target_url": TARGET_URL, "admit_per_minute": 31})
    assert resp.status == 200

    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=admin_headers, json={
        "max_active": 7, "session_ttl": 90, "opens_at": "2030-01-02T03:04:05Z"})
    body = await resp.json()
    assert resp.status == 200
    assert (body["admit_per_minute"], body["max_active"], body["session_ttl"]) == (31, 7, 90)
    assert body["opens_at"] == 1893553445.0

    listed = await (await client.get("/admin/api/rooms", headers=admin_headers)).json()
    assert room_name in [r["room"] for r in listed["rooms"]]

    stats = await (await client.get(f"/admin/api/rooms/{room_name}/stats",
                                    headers=admin_headers)).json()
    assert {"queue_length", "serving", "issued", "active", "lapsed", "admitted_per_minute",
            "admit_per_minute"} <= set(stats)

    assert (await client.delete(f"/admin/api/rooms/{room_name}", headers=admin_headers)).status \
        == 204
    assert (await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)).status \
        == 404
    assert (await client.delete(f"/admin/api/rooms/{room_name}", headers=admin_headers)).status \
        == 404


async def test_patch_is_all_or_nothing_and_names_the_field(
    client: TestClient, room_name: str, admin_headers: dict[str, str]
) -> None:
    await make_room(client, room_name, admin_headers, admit_per_minute=60)
    cases = [
        ({"admit_per_minute": 120, "max_active": 0}, "max_active"),
        ({"admit_per_minute": -1}, "admit_per_minute"),
        ({"admit_per_minute": 120, "session_ttl": 0}, "session_ttl"),
        ({"admit_per_minute": 120, "target_url": "ftp://x"}, "target_url"),
        # A broken IPv6 host, and characters a Location header cannot carry (each was stored,
        # or was a 500, once).
        ({"target_url": "http://[::1"}, "target_url"),
        ({"target_url": "http://a/x\r\nX-Evil: 1"}, "target_url"),
        ({"target_url": "http://a/\u0000"}, "target_url"),
        ({"target_url": "http://a/ü"}, "target_url"),
        ({"opens_at": 10**400}, "opens_at"),  # beyond a float: a 500 once
        ({"opens_at": -(10**400)}, "opens_at"),
        ({"admit_per_minute": 120, "state": "half-open"}, "state"),
        ({"admit_per_minute": 120, "opens_at": "tomorrow"}, "opens_at"),
        ({"admit_per_minute": True}, "admit_per_minute"),
        ({"admit_per_minute": 120, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        resp = await client.patch(f"/admin/api/rooms/{room_name}", json=body,
                                  headers=admin_headers)
        assert resp.status == 422, body
        answer = await resp.json()
        assert answer["error"] == "validation_failed" and answer["field"] == field
    # An integer beyond 64 bits stays an integer (orjson alone made it a float), so the
    # answer says what is wrong with it.
    resp = await client.patch(f"/admin/api/rooms/{room_name}", headers=admin_headers,
                              json={"admit_per_minute": 2**64})
    answer = await resp.json()
    assert resp.status == 422 and answer["field"] == "admit_per_minute"
    assert "between" in answer["message"], answer
    current = await (await client.get(f"/admin/api/rooms/{room_name}",
                                      headers=admin_headers)).json()
    assert current["admit_per_minute"] == 60
    resp = await client.patch("/admin/api/rooms/nosuchroom-x", json={"state": "open"},
                              headers=admin_headers)
    assert resp.status == 404
