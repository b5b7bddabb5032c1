"""Configuration, token signing, language choice and the embedded servers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from itsdangerous import URLSafeTimedSerializer

from fairgate import logs
from fairgate.config import ConfigError, Settings
from fairgate.embedded import EmbeddedRedis, EmbeddedServerError, ensure_backends
from fairgate.i18n import Catalog, pick_language
from fairgate.logs import BatchedLines
from fairgate.tokens import Signer, TokenError, TokenExpired, new_visitor_id, random_bits31

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"


# -- configuration ---------------------------------------------------------------------------


def test_demo_defaults_generate_and_keep_secrets(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    again = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert len(first.secret_keys) == 1 and len(first.secret_keys[0]) >= 32
    assert first.secret_keys == again.secret_keys
    assert first.admin_token == again.admin_token
    assert (tmp_path / "secrets" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.redis_url is None and first.database_url is None
    assert first.waitingroom_url == "http://127.0.0.1:8080"
    assert first.ticketing_url == "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WAITINGROOM_PORT": "eighty"}, "WAITINGROOM_PORT"),
        ({"TICKETING_PORT": "70000"}, "TICKETING_PORT"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SECRET_KEYS": "short"}, "SECRET_KEYS"),
        ({"ADMIN_TOKEN": "tiny"}, "ADMIN_TOKEN"),
        ({"WAITINGROOM_URL": "ftp://x"}, "WAITINGROOM_URL"),
        ({"PG_POOL_MAX": "0"}, "PG_POOL_MAX"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DATA_DIR": str(tmp_path), **env})
    message = str(err.value)
    assert message.startswith(names) and "\n" not in message


def test_production_requires_explicit_secrets(tmp_path: Path) -> None:
    base = {"DATA_DIR": str(tmp_path), "FAIRGATE_ENV": "production"}
    with pytest.raises(ConfigError, match="SECRET_KEYS"):
        Settings.from_env(base)
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        Settings.from_env({**base, "SECRET_KEYS": KEY_A})
    s = Settings.from_env({**base, "SECRET_KEYS": f"{KEY_B},{KEY_A}", "ADMIN_TOKEN": KEY_A})
    assert s.production and s.secret_keys == (KEY_B, KEY_A)
    assert not (tmp_path / "secrets").exists()


def test_extra_float(tmp_path: Path) -> None:
    s = Settings.from_env({"DATA_DIR": str(tmp_path), "WR_DEBOUNCE_MS": "250"})
    assert s.extra_float("WR_DEBOUNCE_MS", 1000) == 250
    assert s.extra_float("WR_UNSET", 7.5) == 7.5
    bad = Settings.from_env({"DATA_DIR": str(tmp_path), "WR_DEBOUNCE_MS": "soon"})
    with pytest.raises(ConfigError, match="WR_DEBOUNCE_MS"):
        bad.extra_float("WR_DEBOUNCE_MS", 1000)


# -- tokens ----------------------------------------------------------------------------------


def test_ticket_round_trip() -> None:
    signer = Signer([KEY_A])
    token = signer.ticket("demo", "v" * 32, 42)
    ticket = signer.load_ticket(token)
    assert (ticket.room, ticket.visitor, ticket.number) == ("demo", "v" * 32, 42)


def test_purposes_do_not_cross() -> None:
    signer = Signer([KEY_A])
    ticket = signer.ticket("demo", "v1", 1)
    admission = signer.admission("demo", "v1", 1, time.time() + 60)
    with pytest.raises(TokenError):
        signer.load_admission(ticket)
    with pytest.raises(TokenError):
        signer.load_ticket(admission)
    with pytest.raises(TokenError):
        signer.load_session(admission)


def test_tampered_and_foreign_tokens_are_refused() -> None:
    signer = Signer([KEY_A])
    token = signer.ticket("demo", "v1", 7)
    body, _, sig = token.rpartition(".")
    flipped = body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (flipped, "", "not-a-token", "x" * 5000, Signer([KEY_B]).ticket("demo", "v1", 7)):
        with pytest.raises(TokenError):
            signer.load_ticket(bad)


def test_key_rotation_keeps_old_tokens_valid_and_signs_with_newest() -> None:
    old = Signer([KEY_A])
    rotated = Signer([KEY_B, KEY_A])  # newest first
    old_token = old.ticket("demo", "v1", 3)
    assert rotated.load_ticket(old_token).number == 3
    new_token = rotated.ticket("demo", "v1", 4)
    assert Signer([KEY_B]).load_ticket(new_token).number == 4
    with pytest.raises(TokenError):
        old.load_ticket(new_token)
    retired = Signer([KEY_B])
    with pytest.raises(TokenError):
        retired.load_ticket(old_token)


def test_tokens_keep_the_itsdangerous_format() -> None:
    """Tokens of plain itsdangerous (which compresses longer payloads) load, and ours load there:
    the cheaper serializer changes no token in flight across an upgrade."""
    signer = Signer([KEY_A])
    plain = URLSafeTimedSerializer([KEY_A], salt="fairgate.ticket")
    long_visitor = "ab" * 100  # long and repetitive: plain itsdangerous sends it compressed
    compressed = plain.dumps(["demo", long_visitor, 5, time.time()])
    assert compressed.startswith(".")
    assert signer.load_ticket(compressed).visitor == long_visitor
    ours = signer.ticket("demo", "v" * 32, 6)
    assert plain.loads(ours)[:3] == ["demo", "v" * 32, 6]


def test_visitor_ids_are_unique_and_not_shared_with_a_forked_child() -> None:
    ids = [new_visitor_id() for _ in range(20_000)]  # crosses many 256-id buffers
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    seeds = [random_bits31() for _ in range(2_000)]  # drawn from the same buffer
    assert all(0 <= s < 2**31 for s in seeds) and len(set(seeds)) > 1_990
    assert max(seeds) >= 2**30  # the top bit is used
    new_visitor_id()  # the buffer now holds ids the parent has not handed out yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, new_visitor_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    from_child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.close(write_end)
    assert from_child not in {new_visitor_id() for _ in range(300)}


def test_event_lines_are_written_per_loop_turn() -> None:
    stream = io.StringIO()
    handler = BatchedLines(stream, max_lines=4)
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.makeLogRecord
    handler.handle(record({"msg": "outside a loop"}))
    assert stream.getvalue() == "outside a loop\n"  # no loop to wait for: at once

    async def turn() -> tuple[str, str, str]:
        for i in range(3):
            handler.handle(record({"msg": f"a{i}"}))
        during = stream.getvalue()
        await asyncio.sleep(0)
        after = stream.getvalue()
        for i in range(5):
            handler.handle(record({"msg": f"b{i}"}))
        full = stream.getvalue()  # the fourth pending line wrote the batch
        await asyncio.sleep(0)
        return during, after, full

    during, after, full = asyncio.run(turn())
    assert during == "outside a loop\n"
    assert after == "outside a loop\na0\na1\na2\n"
    assert full == after + "b0\nb1\nb2\nb3\n"
    assert stream.getvalue() == full + "b4\n"


def test_event_lines_skip_the_logging_machinery_only_when_nobody_else_listens() -> None:
    events = logs.EVENTS
    saved = (list(events.handlers), events.level, events.propagate, logs._batched)
    stream = io.StringIO()
    made = logging.getLogRecordFactory()
    records: list[logging.LogRecord] = []

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        records.append(made(*args, **kwargs))
        return records[-1]

    logging.setLogRecordFactory(counting)
    try:
        for handler in list(events.handlers):
            events.removeHandler(handler)
        logs.configure(stream)
        logs.log_event("join", room="r", number=1)
        assert records == []  # the direct way: no LogRecord
        line = json.loads(stream.getvalue())
        assert {k: line[k] for k in ("event", "room", "number")} == {
            "event": "join", "room": "r", "number": 1}
        # A second handler on the logger: lines go through logging again and reach both.
        seen: list[str] = []
        other = logging.Handler()
        other.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
        events.addHandler(other)
        logs.log_event("hold", status=201)
        assert len(records) == 1 and json.loads(seen[0])["event"] == "hold"
        assert json.loads(stream.getvalue().splitlines()[1])["status"] == 201
        events.removeHandler(other)
        events.disabled = True  # as logging.config's disable_existing_loggers does
        logs.log_event("leave")
        events.disabled = False
        events.setLevel(logging.WARNING)  # switched off: nothing is written
        logs.log_event("confirm")
        assert len(stream.getvalue().splitlines()) == 2
    finally:
        logging.setLogRecordFactory(made)
        for handler in list(events.handlers):
            events.removeHandler(handler)
        for handler in saved[0]:
            events.addHandler(handler)
        events.setLevel(saved[1])
        events.propagate = saved[2]
        events.disabled = False
        logs._batched = saved[3]


def test_max_age_and_session_expiry() -> None:
    signer = Signer([KEY_A])
    admission = signer.admission("demo", "v1", 1, time.time() + 60)
    assert signer.load_admission(admission, max_age=60).token_id
    with pytest.raises(TokenExpired):
        signer.load_admission(admission, max_age=-1)
    ended = signer.session("demo", "v1", "s1", time.time() - 1)
    with pytest.raises(TokenExpired):
        signer.load_session(ended)
    unique = {signer.load_admission(signer.admission("d", "v", 1, 0)).token_id for _ in range(50)}
    assert len(unique) == 50


def test_non_positive_numbers_are_invalid() -> None:
    signer = Signer([KEY_A])
    for number in (0, -5, True):
        with pytest.raises(TokenError):
            signer.load_ticket(signer.ticket("demo", "v", number))


# -- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "en"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR,ko;q=0.5", "ko"),
        ("de", "en"),
        ("ko;q=0", "en"),
        ("en;q=0.2, ko;q=0.7", "ko"),
    ],
)
def test_pick_language(header: str, lang: str) -> None:
    assert pick_language(header) == lang


def test_catalog_requires_every_translation() -> None:
    with pytest.raises(ValueError, match="greet"):
        Catalog({"greet": {"en": "Hi"}})
    cat = Catalog({"greet": {"en": "Hi", "ko": "안녕하세요"}})
    assert cat.strings("ko")["greet"] == "안녕하세요"
    assert cat.strings("xx")["greet"] == "Hi"


# -- embedded servers ------------------------------------------------------------------------


async def test_session_servers_are_real(backends) -> None:  # type: ignore[no-untyped-def]
    import asyncpg

    client = aioredis.Redis.from_url(backends.redis_url, decode_responses=True)
    try:
        info = await client.info("server")
        assert info["redis_version"]
    finally:
        await client.aclose()
    conn = await asyncpg.connect(backends.database_url)
    try:
        assert (await conn.fetchval("SHOW server_version")).split(".")[0].isdigit()
    finally:
        await conn.close()


def test_embedded_redis_reuse_restart_and_aof(tmp_path: Path) -> None:
    first = EmbeddedRedis.start(tmp_path)
    try:
        assert first.owned
        again = EmbeddedRedis.start(tmp_path)
        assert not again.owned and again.port == first.port
        _redis_cli(first, "SET", "k", "kept")
        _redis_cli(first, "INCR", "n")
        time.sleep(1.2)  # appendfsync everysec
        first.kill()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", first.port), timeout=0.5).close()
        first.restart()
        assert _redis_cli(first, "GET", "k") == "kept"
        again.stop()  # not the owner: leaves the server running
        assert _redis_cli(first, "PING") == "PONG"
    finally:
        first.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", first.port), timeout=0.5).close()


def test_embedded_redis_failure_is_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    # A directory where the log file should be makes redis-server exit at once.
    (tmp_path / "redis" / "redis.log").mkdir()
    with pytest.raises(EmbeddedServerError) as err:
        ensure_backends(tmp_path, None, "postgresql://unused/db")
    assert "redis" in str(err.value) and "\n" not in str(err.value)


def test_configured_urls_start_nothing(tmp_path: Path) -> None:
    b = ensure_backends(tmp_path, "redis://127.0.0.1:1/0", "postgresql://127.0.0.1:1/x")
    assert b.redis is None and b.postgres is None
    assert not (tmp_path / "redis").exists() and not (tmp_path / "pg").exists()


def _redis_cli(server: EmbeddedRedis, *args: str) -> str:
    cli = Path(sys.modules["fairgate.embedded"].redis_server_binary()).with_name("redis-cli")
    out = subprocess.run(
        [str(cli), "-p", str(server.port), *args], capture_output=True, text=True, timeout=10
    )
    return out.stdout.strip()
