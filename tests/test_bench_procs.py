"""A benchmark stopped with SIGTERM stops the servers it started (bench.procs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from proc_support import alive, pids, wait_gone

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, time
from bench import procs
with procs.stack(need_postgres=False) as stack:
    hello = stack.start("hello", "bench.hello", serve=False)
    print(hello.popen.pid, stack.backends.redis_url, flush=True)
    time.sleep(120)
"""


def test_sigterm_stops_the_servers_of_a_benchmark() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    with subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, proc.stderr.read() if proc.stderr else "no output"
            hello_pid = int(line.split()[0])
            redis_address = line.split()[1].removeprefix("redis://").split("/")[0]
            redis_pids = pids(f"redis-server {redis_address}")
            assert alive(hello_pid) and redis_pids
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 128 + signal.SIGTERM
        finally:
            if proc.poll() is None:
                proc.kill()
    wait_gone([hello_pid, *redis_pids], 10)
    assert not alive(hello_pid), "the app server was left running"
    assert not any(alive(p) for p in redis_pids), "Redis was left running"
