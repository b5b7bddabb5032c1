"""``make demo`` stopped by a signal other than Ctrl-C still stops what it started: SIGTERM
(``kill``) and SIGHUP (the terminal closed) go through the same clean-up as Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from proc_support import alive, pids, wait_gone

from fairgate.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    wr_port, tk_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"DATA_DIR": str(tmp_path), "WAITINGROOM_PORT": str(wr_port),
            "TICKETING_PORT": str(tk_port)}
    with subprocess.Popen([sys.executable, "-m", "fairgate.demo"], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "Press Ctrl-C to stop." in line:
                    break
            else:
                raise AssertionError("the demo did not start:\n" + "".join(seen))
            started = {
                "waiting room": pids(f"waitingroom serve --host 127.0.0.1 --port {wr_port}"),
                "ticketing": pids(f"ticketing serve --host 127.0.0.1 --port {tk_port}"),
                "PostgreSQL": pids(f"postgres -D {tmp_path}"),
                "Redis": [int((tmp_path / "redis" / "redis.pid").read_text())],
            }
            assert all(started.values()), started
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
    wait_gone((p for found in started.values() for p in found), 15)
    left = {name: found for name, found in started.items() if any(alive(p) for p in found)}
    for pid in (p for found in left.values() for p in found):
        os.kill(pid, signal.SIGKILL)  # a failing run still leaves nothing behind
    assert not left, f"left running: {left}"


SCRIPT = """
import signal, sys, time
from fairgate.lifecycle import exit_on_signals
try:
    with exit_on_signals(signal.SIGTERM, signal.SIGHUP):
        print("ready", flush=True)
        time.sleep(60)
finally:
    print("cleaned up", flush=True)
"""


def test_sighup_takes_the_same_way_out() -> None:
    with subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(10) == 128 + signal.SIGHUP
        assert proc.stdout.read() == "cleaned up\n"
