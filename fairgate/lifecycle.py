"""Ending a program that started servers of its own (the demo, the benchmarks)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def exit_on_signals(*signums: int) -> Iterator[None]:
    """These signals (SIGTERM when none are named: ``timeout``, a cancelled CI job, ``kill``)
    end the program the way Ctrl-C does: through every ``finally``, so the servers it started
    stop with it instead of running on, holding their ports and data directories."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = signums or (signal.SIGTERM,)

    def stop(signum: int, _frame: object) -> None:
        for s in signums:  # a second one must not cut the clean-up short
            signal.signal(s, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
