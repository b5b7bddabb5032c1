"""One structured log line per business event (join, admit, hold, confirm, admin change).

Lines go to the ``fairgate.events`` logger as a single JSON object, so a log shipper can index
them without a parsing rule: ``{"ts": ..., "event": "join", "app": ..., "room": ..., ...}``.
Values that JSON cannot hold are written as strings; secrets are never passed here.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

EVENTS = logging.getLogger("fairgate.events")


def log_event(event: str, /, **fields: Any) -> None:
    """Write one JSON line for ``event``; free when the logger is switched off."""
    if not EVENTS.isEnabledFor(logging.INFO):
        return
    line = {"ts": round(time.time(), 3), "event": event, **fields}
    EVENTS.info(json.dumps(line, default=str, separators=(",", ":"), sort_keys=False))


def configure(stream: Any = None) -> None:
    """Event lines go out as bare JSON (no timestamp or level prefix of the other log lines),
    so a shipper can parse each line as it is. Called once when an app starts serving."""
    if any(getattr(h, "_fairgate_events", False) for h in EVENTS.handlers):
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._fairgate_events = True  # type: ignore[attr-defined]
    EVENTS.addHandler(handler)
    EVENTS.setLevel(logging.INFO)
    EVENTS.propagate = False
