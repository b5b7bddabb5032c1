"""Property tests of the input parsers: whatever JSON a client sends, each parser either returns
a value within its rules or raises the 4xx error the edge (``fairgate.web.edge``) turns into
JSON; never anything else (which would be a 500)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairgate.web import ApiError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ticketing import events, holds  # noqa: E402
from waitingroom import rooms  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner,
                                                                max_size=5),
    max_leaves=20,
)
ROOM = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")


def _refused(exc: ApiError) -> None:
    assert 400 <= exc.status < 500 and exc.code and exc.message


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80) | st.from_regex(ROOM))
def test_room_names(name: str) -> None:
    try:
        assert rooms.check_room_name(name) == name
    except ApiError as exc:
        _refused(exc)
        assert not ROOM.match(name)
    else:
        assert ROOM.match(name)


@settings(max_examples=150, deadline=None)
@given(json_values | st.lists(st.integers(min_value=-5, max_value=2**70), max_size=12),
       st.integers(1, 10), st.integers(1, 10))
def test_seat_id_lists(raw: Any, event_limit: int, request_limit: int) -> None:
    try:
        ids = holds.parse_seat_ids(raw, event_limit, request_limit)
    except ApiError as exc:
        _refused(exc)
        return
    assert ids == sorted(set(raw)) and 0 < len(ids) <= min(event_limit, request_limit)
    assert all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)


settings_bodies = st.dictionaries(
    st.sampled_from([*rooms.FIELDS, "bogus"]),
    json_values | st.integers(-10, 10**7) | st.floats(0, 1e13) | st.sampled_from(
        ["open", "paused", "closed", "fail_open", "fail_closed", "https://x.example/",
         "2030-01-01T00:00:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(settings_bodies)
def test_room_settings_bodies(body: dict[str, Any]) -> None:
    try:
        values = rooms.validate(body)
    except ApiError as exc:
        _refused(exc)
        assert exc.fields.get("field") in body  # the 422 names the offending field
        return
    assert set(values) == set(body)
    config = rooms.RoomConfig(**{"target_url": "https://x.example/", **values})
    config.to_hash()
    config.public("r")  # what every admin answer shows


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["name", "room", "per_visitor_limit", "hold_ttl_s", "sections",
                     "opens_at", "closes_at", "bogus"]),
    json_values, max_size=7))
def test_new_event_bodies(body: dict[str, Any]) -> None:
    try:
        events.parse_new_event(body)
    except ApiError as exc:
        _refused(exc)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 10**30])
def test_odd_numbers_in_settings_are_refused(value: float) -> None:
    for name in ("admit_per_minute", "pow_difficulty", "opens_at"):
        with pytest.raises(ApiError):
            rooms.validate({name: value})
