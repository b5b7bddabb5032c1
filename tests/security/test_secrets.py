"""No secret reaches the logs: neither the signing keys, nor the admin token, nor any token a
visitor holds, through a whole flow of both apps including refused attempts."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest
from sec_helpers import make_event, make_room

from fairgate.tokens import Signer


async def test_no_secret_or_token_is_logged(
    start_wr, start_tk, settings, admin_headers, room_name, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_seen: list[str] = [*settings.secret_keys, settings.admin_token]

    wr = await start_wr()
    await make_room(wr, room_name, admin_headers, admit_per_minute=6000)
    resp = await wr.post("/admin/login", data={"token": settings.admin_token},
                         allow_redirects=False)
    assert resp.status == 303
    resp = await wr.post("/admin/login", data={"token": settings.admin_token + "x"})
    assert resp.status == 401
    resp = await wr.get("/admin/api/rooms",
                        headers={"Authorization": f"Bearer {settings.admin_token[:-1]}"})
    assert resp.status == 401
    ticket = (await (await wr.post(f"/api/rooms/{room_name}/join", cookies={})).json())["ticket"]
    secrets_seen.append(ticket)
    redirect = None
    for _ in range(50):
        body = await (await wr.get(f"/api/rooms/{room_name}/status",
                                   headers={"X-Queue-Ticket": ticket})).json()
        if body.get("redirect_url"):
            redirect = body["redirect_url"]
            break
        await asyncio.sleep(0.1)
    assert redirect, "the visitor was never admitted"
    admission = re.search(r"token=([^&]+)", redirect).group(1)
    secrets_seen.append(admission)

    tk = await start_tk()
    event_id = await make_event(tk, room_name, admin_headers)
    resp = await tk.get("/enter", params={"token": admission}, allow_redirects=False)
    assert resp.status == 303
    session_cookie = resp.cookies["tk_session"].value
    secrets_seen.append(session_cookie)
    resp = await tk.get("/enter", params={"token": admission})  # replayed: refused
    assert resp.status == 409
    other = Signer(settings.secret_keys).admission(room_name, "w" * 32, 2, time.time() + 300)
    session = (await (await tk.post("/api/session", json={"token": other})).json())["session"]
    secrets_seen += [other, session]
    bearer = {"Authorization": f"Bearer {session}"}
    seats = await (await tk.get(f"/api/events/{event_id}/seats", headers=bearer)).json()
    hold = await tk.post(f"/api/events/{event_id}/holds", headers=bearer,
                         json={"seat_ids": [seats["seats"][0]["id"]]})
    hold_id = (await hold.json())["hold_id"]
    assert (await tk.post(f"/api/holds/{hold_id}/confirm", headers=bearer)).status == 201
    assert (await tk.delete("/api/session", headers=bearer)).status == 200
    await asyncio.sleep(0.3)  # the departure call to the waiting room is logged when it ends

    # The test server's access log is not used by the apps (serve() and gunicorn turn it off).
    lines = [r.getMessage() + (r.exc_text or "") for r in caplog.records
             if r.name != "aiohttp.access"]
    assert any("admin_login" in line for line in lines), "the flow logged nothing to check"
    for secret in secrets_seen:
        leaked = [line for line in lines if secret in line]
        assert not leaked, leaked[:1]
