"""Text that is not text: bytes that are not UTF-8 in a header (aiohttp hands them over as lone
surrogates) or a form, a form body that is no form or names an unknown charset, a body its
Content-Encoding cannot decode, and escaped lone surrogates in a JSON body. Each is refused, or
counted as no credential, with a 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from sec_helpers import dashboard_session, make_event, make_room

from fairgate import adminauth

NOT_UTF8 = b"\xff\xfe"


async def _raw(client: TestClient, request: bytes) -> tuple[int, bytes]:
    """Status and body of ``request``, sent as these exact bytes (no client would send them)."""
    assert client.server.host and client.server.port
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        body = await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), body


def _get(path: str, *headers: bytes) -> bytes:
    return b"\r\n".join([f"GET {path} HTTP/1.1".encode(), b"Host: x", *headers, b"", b""])


def _post(path: str, *headers: bytes, body: bytes = b"") -> bytes:
    return b"\r\n".join([
        f"POST {path} HTTP/1.1".encode(), b"Host: x", *headers,
        f"Content-Length: {len(body)}".encode(), b"Content-Type: application/json", b"", body,
    ])


async def test_the_waiting_room_reads_such_headers_as_no_credential(
    start_wr, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    room = room_name.encode()
    ticket, cookie = b"X-Queue-Ticket: " + NOT_UTF8, b"Cookie: wr_ticket_" + room + b"=" + NOT_UTF8
    # A ticket that cannot be one is no ticket: the poll asks for one, a join gives a new place.
    assert (await _raw(client, _get(f"/api/rooms/{room_name}/status", ticket)))[0] == 400
    for header in (ticket, cookie):
        status, body = await _raw(client, _post(f"/api/rooms/{room_name}/join", header))
        assert status == 200, body
    assert (await _raw(client, _get(f"/r/{room_name}", cookie)))[0] == 200
    assert (await _raw(client, _get("/admin/api/rooms",
                                    b"Authorization: Bearer " + NOT_UTF8)))[0] == 401


async def test_a_dashboard_write_with_such_a_csrf_header_is_refused(
    start_wr, settings, admin_headers, room_name
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=5)
    value, _ = dashboard_session(settings)
    status, body = await _raw(client, b"\r\n".join([
        f"PATCH /admin/api/rooms/{room_name} HTTP/1.1".encode(), b"Host: x",
        f"Cookie: {adminauth.COOKIE}={value}".encode(),
        adminauth.CSRF_HEADER.encode() + b": " + NOT_UTF8,
        b"Content-Type: application/json", b"Content-Length: 25", b"",
        b'{"admit_per_minute": 99}\n',
    ]))
    assert status == 403, body
    resp = await client.get(f"/admin/api/rooms/{room_name}", headers=admin_headers)
    assert (await resp.json())["admit_per_minute"] == 5


async def test_a_sign_in_form_that_cannot_be_read_is_a_400(start_wr) -> None:
    client = await start_wr()
    for content_type, body in [
        ("application/x-www-form-urlencoded", b"token=" + NOT_UTF8),
        ("application/x-www-form-urlencoded; charset=bogus", b"token=abc"),
        ("multipart/form-data; boundary=x", b"token=abc"),  # no boundary in the body
    ]:
        resp = await client.post("/admin/login", data=body, allow_redirects=False,
                                 headers={"Content-Type": content_type})
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_form")
        assert "Set-Cookie" not in resp.headers


async def test_a_body_its_content_encoding_cannot_decode_is_a_400(
    start_wr, start_tk, admin_headers, room_name, redis_client
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers, admit_per_minute=0)
    # The server closes a connection whose body it could not decode: one connection each.
    for encoding in ("gzip", "deflate", "br"):
        resp = await client.post(f"/api/rooms/{room_name}/join", data=b"not compressed",
                                 headers={"Content-Type": "application/json",
                                          "Content-Encoding": encoding, "Connection": "close"})
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_body"), encoding
    assert await redis_client.zcard(f"wr:{{{room_name}}}:queue") == 0  # nobody joined
    resp = await client.post("/admin/login", data=b"not compressed", allow_redirects=False,
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Content-Encoding": "gzip", "Connection": "close"})
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_form")
    tk = await start_tk()
    event_id = await make_event(tk, room_name, admin_headers)
    resp = await tk.post("/admin/api/events", data=b"not compressed",
                         headers={**admin_headers, "Content-Type": "application/json",
                                  "Content-Encoding": "gzip", "Connection": "close"})
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_body")
    resp = await tk.get(f"/admin/api/events/{event_id}/report", headers=admin_headers)
    assert resp.status == 200


async def test_a_lone_surrogate_in_a_body_is_invalid_json(
    start_wr, admin_headers, room_name
) -> None:
    client = await start_wr()
    await make_room(client, room_name, admin_headers)
    json_type = {**admin_headers, "Content-Type": "application/json"}
    new_room = (b'{"target_url": "http://127.0.0.1:9/\\ud800", "admit_per_minute": 60, '
                b'"max_active": 100, "session_ttl": 600}')
    resp = await client.put(f"/admin/api/rooms/{room_name}-new", data=new_room,
                            headers=json_type)
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_json")
    resp = await client.get(f"/admin/api/rooms/{room_name}-new", headers=admin_headers)
    assert resp.status == 404
    before = await (await client.get(f"/admin/api/rooms/{room_name}",
                                     headers=admin_headers)).json()
    resp = await client.patch(f"/admin/api/rooms/{room_name}",
                              data=b'{"target_url": "http://127.0.0.1:9/\\udc80"}',
                              headers=json_type)
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_json")
    after = await (await client.get(f"/admin/api/rooms/{room_name}",
                                    headers=admin_headers)).json()
    assert after == before


async def test_ticketing_reads_such_a_bearer_as_no_credential(
    start_tk, admin_headers, room_name
) -> None:
    tk = await start_tk()
    event_id = await make_event(tk, room_name, admin_headers)
    bearer = b"Authorization: Bearer " + NOT_UTF8
    status, body = await _raw(tk, _post(f"/api/events/{event_id}/holds", bearer,
                                        body=b'{"seat_ids": [1]}'))
    assert status == 401, body
    assert (await _raw(tk, _get(f"/api/events/{event_id}/seats", bearer)))[0] == 401
    assert (await _raw(tk, _get("/admin/api/events", bearer)))[0] == 401
