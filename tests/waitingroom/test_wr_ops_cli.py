"""``waitingroom-admin`` against a live waiting room (real server, real Redis): tables, JSON,
the live watch, and exit codes (0 ok, 1 API refused, 2 usage, 3 cannot connect)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from wr_support import ROOT, TARGET_URL, base_url, join

ADMIN = "test-admin-token-0123456789abcdef"


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv) in a worker thread (it runs its own event loop), output captured."""
    from waitingroom.cli import main

    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_rooms_set_show_list_and_exit_codes(
    client: TestClient, room_name: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN)
    url = base_url(client)
    code, out, err = await cli(capsys, "--url", url, "rooms", "set", room_name,
                               "--target-url", TARGET_URL, "--rate", "600",
                               "--max-active", "500", "--state", "paused")
    assert code == 0, err
    header, rule, row = out.splitlines()
    assert header.split()[:4] == ["ROOM", "STATE", "RATE/MIN", "MAX"]
    assert set(rule) <= {"-", " "}
    assert row.split()[:4] == [room_name, "paused", "600", "500"]

    code, out, err = await cli(capsys, "--url", url, "rooms", "set", room_name, "--rate", "60",
                               "--state", "open")
    assert code == 0, err
    code, out, _ = await cli(capsys, "--url", url, "rooms", "show", room_name)
    assert code == 0
    assert "admit_per_minute" in out and "waiting" in out and "(knob 60)" in out

    code, out, _ = await cli(capsys, "--url", url, "--json", "rooms", "show", room_name)
    data = json.loads(out)
    assert code == 0 and data["admit_per_minute"] == 60 and data["stats"]["queue_length"] == 0
    code, out, _ = await cli(capsys, "--url", url, "--json", "rooms", "list")
    assert code == 0 and room_name in [r["room"] for r in json.loads(out)["rooms"]]
    code, out, _ = await cli(capsys, "--url", url, "audit", "--limit", "5")
    assert code == 0 and "room.update" in out and "admit_per_minute: 600 -> 60" in out

    # Every room setting the API takes can be set from here.
    code, _, err = await cli(capsys, "--url", url, "rooms", "set", room_name, "--mode", "standby",
                             "--standby-max", "120", "--pow", "8",
                             "--on-redis-failure", "fail_open")
    assert code == 0, err
    code, out, _ = await cli(capsys, "--url", url, "--json", "rooms", "show", room_name)
    data = json.loads(out)
    assert (data["mode"], data["standby_max_per_minute"], data["pow_difficulty"],
            data["on_redis_failure"]) == ("standby", 120, 8, "fail_open")

    # 1: the API refused (bad value, names the field; unknown room; wrong token).
    code, _, err = await cli(capsys, "--url", url, "rooms", "set", room_name, "--max-active", "0")
    assert code == 1 and "max_active" in err
    code, _, err = await cli(capsys, "--url", url, "rooms", "show", room_name + "-none")
    assert code == 1 and "404" in err
    code, _, err = await cli(capsys, "--url", url, "--token", "x" * 20, "rooms", "list")
    assert code == 1 and "401" in err
    # 2: usage.
    for argv in (("rooms", "set", room_name), ("rooms", "frobnicate"),
                 ("rooms", "watch", room_name, "--count", "0"), ("audit", "--limit", "0")):
        code, _, _ = await cli(capsys, "--url", url, *argv)
        assert code == 2, argv
    monkeypatch.delenv("ADMIN_TOKEN")
    code, _, err = await cli(capsys, "--url", url, "rooms", "list")
    assert code == 2 and "ADMIN_TOKEN" in err
    # 3: nothing listens there.
    code, _, err = await cli(capsys, "--url", "http://127.0.0.1:9", "--token", ADMIN,
                             "rooms", "list")
    assert code == 3 and "cannot reach" in err
    # Nothing that failed changed the room.
    code, out, _ = await cli(capsys, "--url", url, "--token", ADMIN, "--json", "rooms", "show",
                             room_name)
    assert json.loads(out)["max_active"] == 500


async def test_rooms_watch_shows_live_figures(
    client: TestClient, anon: ClientSession, room_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = base_url(client)
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "set", room_name,
                             "--target-url", TARGET_URL, "--rate", "0")
    assert code == 0, err
    for _ in range(3):
        await join(anon, url, room_name)
    code, out, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "watch",
                               room_name, "--count", "3", "--interval", "0.05")
    assert code == 0, err
    heads = [line for line in out.splitlines() if line.endswith("(Ctrl-C to stop)")]
    assert len(heads) == 3 and all(h.startswith(f"{room_name}  [open]") for h in heads)
    last = out[out.rindex(heads[-1]):]
    waiting = [line for line in last.splitlines() if line.startswith("waiting")]
    assert waiting and waiting[0].split()[-1] == "3"
    assert "queue     ███" in last and "never (paused)" in last

    code, out, _ = await cli(capsys, "--url", url, "--token", ADMIN, "--json", "rooms",
                             "watch", room_name, "--once")
    (line,) = out.splitlines()
    assert code == 0 and json.loads(line)["queue_length"] == 3
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "watch",
                             room_name + "-none", "--once")
    assert code == 1 and "404" in err


async def test_console_entry_point_in_a_subprocess(client: TestClient) -> None:
    """The module runs as a program; exit codes reach the shell."""
    env = {**os.environ, "ADMIN_TOKEN": ADMIN}
    for argv, expected in (
        (["--url", base_url(client), "rooms", "list"], 0),
        (["--url", "http://127.0.0.1:9", "rooms", "list"], 3),
    ):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waitingroom.cli", *argv, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await proc.communicate()
        assert proc.returncode == expected, argv

    # An output that cannot encode "…" (the audit shortens a room's creation with it).
    room = f"ascii-{os.getpid()}"
    for argv in (["rooms", "set", room, "--target-url", TARGET_URL], ["audit", "--limit", "3"]):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "waitingroom.cli", "--url", base_url(client), *argv, cwd=ROOT,
            env={**env, "PYTHONIOENCODING": "ascii"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert (proc.returncode, err) == (0, b""), argv
    assert "room.create" in out.decode() and "?" in out.decode()


async def test_what_is_wrong_before_any_request_is_a_usage_error(
    client: TestClient, room_name: str, capsys: pytest.CaptureFixture[str],
) -> None:
    url = base_url(client)
    # A token read from a file saved with Windows line endings ends in CR: trimmed, it works.
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN + "\r", "rooms", "list")
    assert code == 0, err
    code, _, err = await cli(capsys, "--url", url, "--token", "abc\ndef", "rooms", "list")
    assert code == 2 and "control character" in err
    for bad in ("http://[::1", "127.0.0.1:8080", "ftp://127.0.0.1", "http://127.0.0.1:99999",
                "http://user:secret@127.0.0.1:1"):
        code, _, err = await cli(capsys, "--url", bad, "--token", ADMIN, "rooms", "list")
        assert code == 2 and "--url" in err, (bad, err)
    for interval in ("inf", "nan", "0", "3601"):
        code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "watch",
                                 room_name, "--interval", interval)
        assert code == 2 and "--interval" in err, interval


async def test_a_mistyped_room_or_url_says_so_and_changes_nothing(
    client: TestClient, room_name: str, capsys: pytest.CaptureFixture[str],
) -> None:
    url = base_url(client)
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "set", room_name,
                             "--target-url", TARGET_URL)
    assert code == 0, err
    # Without --target-url, set on an unknown room is a typo, not a new room.
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "set",
                             room_name + "x", "--state", "paused")
    assert code == 1 and "room_not_found" in err, err
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "show",
                             room_name + "x")
    assert code == 1 and "404" in err
    # Unix seconds are digits: "1_000" (which float() reads) is no time.
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "set", room_name,
                             "--opens-at", "1_000")
    assert code == 1 and "opens_at" in err, err
    # A base URL with a path prefix: the 404 names the URL it asked.
    code, _, err = await cli(capsys, "--url", url + "/prefix", "--token", ADMIN, "rooms", "list")
    assert code == 1 and f"{url}/prefix/admin/api/rooms" in err and "right app" in err, err


async def test_a_watch_waits_out_a_503_and_a_closed_pipe_ends_quietly(
    client: TestClient, room_name: str, capsys: pytest.CaptureFixture[str],
) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    answers = iter([503, 503])  # the first frame's two requests: a restarting server

    async def room(request: web.Request) -> web.Response:
        status = next(answers, 200)
        if status != 200:
            return web.json_response({"error": "unavailable", "message": "restarting"},
                                     status=status)
        if request.path.endswith("/stats"):
            return web.json_response({"queue_length": 1, "active": 0})
        return web.json_response({"state": "open"})

    app = web.Application()
    app.router.add_get("/admin/api/rooms/{room}", room)
    app.router.add_get("/admin/api/rooms/{room}/stats", room)
    async with TestServer(app, host="127.0.0.1") as server:
        code, out, err = await cli(capsys, "--url", str(server.make_url("")).rstrip("/"),
                                   "--token", ADMIN, "--json", "rooms", "watch", "r",
                                   "--count", "3", "--interval", "0.01")
    assert code == 0, err
    first, *frames = out.splitlines()
    assert "503" in first and first.endswith("retrying")
    assert [json.loads(f)["queue_length"] for f in frames] == [1, 1]

    # The reader of the output goes away after one line (| head -1): no traceback, exit 141.
    url = base_url(client)
    code, _, err = await cli(capsys, "--url", url, "--token", ADMIN, "rooms", "set", room_name,
                             "--target-url", TARGET_URL)
    assert code == 0, err
    def first_line_then_close() -> tuple[int, str, str]:
        argv = [sys.executable, "-m", "waitingroom.cli", "--url", url, "--token", ADMIN,
                "--json", "rooms", "watch", room_name, "--count", "50", "--interval", "0.01"]
        with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            proc.stdout.close()
            return proc.wait(30), line, proc.stderr.read()

    code, line, err = await asyncio.to_thread(first_line_then_close)
    assert json.loads(line)["queue_length"] == 0
    assert code == 141 and "Traceback" not in err, err
