"""One structured log line per business event (join, admit, hold, confirm, admin change).

Lines go to the ``fairgate.events`` logger as a single JSON object, so a log shipper can index
them without a parsing rule: ``{"ts": ..., "event": "join", "app": ..., "room": ..., ...}``.
Values that JSON cannot hold are written as strings; secrets are never passed here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

EVENTS = logging.getLogger("fairgate.events")
# The handler configure() installed; while it is the events logger's only way out, lines are
# handed to it directly.
_batched: BatchedLines | None = None


def log_event(event: str, /, **fields: Any) -> None:
    """Write one JSON line for ``event``; free when the logger is switched off."""
    if not EVENTS.isEnabledFor(logging.INFO):
        return
    line = {"ts": round(time.time(), 3), "event": event, **fields}
    text = orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    handler = _batched
    if (handler is not None and EVENTS.handlers == [handler] and not EVENTS.propagate
            and not EVENTS.disabled and not EVENTS.filters and not handler.filters
            and handler.level <= logging.INFO):
        # What logging would do with this one handler and its "%(message)s" format, without a
        # LogRecord (most of a line's 9 µs; a join and every hold and confirm write one).
        handler.add(text)
    else:
        EVENTS.info(text)


class BatchedLines(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the lines of one event-loop turn together.

    Under load a turn of the loop serves many requests, each with its line; one write per line
    was a system call per join. Lines wait at most until the end of the current turn (or until
    ``max_lines`` are pending); outside a running loop each line is written at once. A process
    killed mid-turn loses that turn's lines, never more.
    """

    def __init__(self, stream: Any = None, max_lines: int = 256) -> None:
        super().__init__(stream)
        self.max_lines = max_lines
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        self._queue(line)

    def add(self, line: str) -> None:
        """A line formatted already (``log_event``), under the handler's lock as ``emit``."""
        self.acquire()
        try:
            self._queue(line)
        finally:
            self.release()

    def _queue(self, line: str) -> None:
        self._pending.append(line)
        if len(self._pending) >= self.max_lines:
            self._write()
            return
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write()
                return
            self._scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._scheduled = False
            self._write()
        finally:
            self.release()

    def _write(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self.stream.write(self.terminator.join(lines) + self.terminator)
            super().flush()
        except Exception:  # a full disk must not fail the request
            self.handleError(logging.makeLogRecord({"msg": "event lines lost", "args": ()}))


def configure(stream: Any = None) -> None:
    """Event lines go out as bare JSON (no timestamp or level prefix of the other log lines),
    so a shipper can parse each line as it is. Called once when an app starts serving."""
    if any(getattr(h, "_fairgate_events", False) for h in EVENTS.handlers):
        return
    global _batched
    handler = BatchedLines(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._fairgate_events = True  # type: ignore[attr-defined]
    EVENTS.addHandler(handler)
    _batched = handler
    EVENTS.setLevel(logging.INFO)
    EVENTS.propagate = False
