"""Looking for processes a test started, or expects to be gone."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def pids(pattern: str) -> list[int]:
    """Processes whose command line matches ``pattern`` (pgrep -f)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def wait_gone(watched: Iterable[int], seconds: float) -> list[int]:
    """Wait up to ``seconds`` for the processes to end; those still alive then."""
    watched = list(watched)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in watched):
        time.sleep(0.1)
    return [p for p in watched if alive(p)]
