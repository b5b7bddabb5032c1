"""Small pure checks: the string table, the shipped migrations, the notice chunking."""

from __future__ import annotations

import json

import pytest

from fairgate.i18n import LANGUAGES
from fairgate.web import ValidationFailed
from ticketing.db import available_migrations
from ticketing.holds import parse_seat_ids
from ticketing.messages import CATALOG, SCRIPT_KEYS, STRINGS
from ticketing.stream import SEATS_PER_NOTICE, notices


def test_string_keys_do_not_hide_behind_dict_methods() -> None:
    # Templates read strings as `t.key`; Jinja would find dict.clear before the key "clear".
    assert [k for k in STRINGS if hasattr(dict, k)] == []
    for lang in LANGUAGES:
        strings = CATALOG.strings(lang)
        assert set(SCRIPT_KEYS) <= set(strings)
        assert all(strings[k].strip() for k in strings)


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [v for v, _, _ in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_seat_ids_come_back_sorted_for_lock_order() -> None:
    assert parse_seat_ids([30, 10, 20], event_limit=4, request_limit=50) == [10, 20, 30]
    with pytest.raises(ValidationFailed) as info:
        parse_seat_ids([1, 2, 3], event_limit=2, request_limit=50)
    assert info.value.code == "too_many_seats"


def test_big_changes_split_into_notices_under_the_notify_limit() -> None:
    rows = [{"id": 9_000_000_000 + i, "status": "held", "version": 10**12 + i}
            for i in range(500)]
    payloads = notices(42, rows)  # type: ignore[arg-type]
    assert len(payloads) == -(-500 // SEATS_PER_NOTICE)
    assert all(len(p.encode()) < 8000 for p in payloads)
    assert sum(len(json.loads(p)["s"]) for p in payloads) == 500
