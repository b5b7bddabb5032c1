"""Start the servers a benchmark measures: embedded Redis/PostgreSQL and app processes, each on
a free loopback port, stopped again when the benchmark ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairgate.embedded import Backends, ensure_backends, free_port
from fairgate.lifecycle import exit_on_signals

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
SECRET_KEYS = "bench-secret-key-0123456789abcdef"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path


def wait_healthy(proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited early; see {proc.log}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{proc.url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not become healthy; see {proc.log}")


class Stack:
    """Backends plus app processes for one benchmark run."""

    def __init__(self, data_dir: Path, backends: Backends) -> None:
        self.data_dir = data_dir
        self.backends = backends
        self.procs: list[Proc] = []

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_URL": self.backends.redis_url or "",
            "DATABASE_URL": self.backends.database_url or "",
            "DATA_DIR": str(self.data_dir),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SECRET_KEYS": SECRET_KEYS,
        }

    def start(self, name: str, module: str, *args: str, env: dict[str, str] | None = None,
              serve: bool = True) -> Proc:
        port = free_port()
        log = self.data_dir / f"{name}.log"
        cmd = [sys.executable, "-m", module]
        if serve:
            cmd.append("serve")
        cmd += ["--host", "127.0.0.1", "--port", str(port), *args]
        with open(log, "ab") as fh:
            popen = subprocess.Popen(cmd, env={**self.env, **(env or {})}, stdout=fh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc = Proc(name, popen, f"http://127.0.0.1:{port}", log)
        self.procs.append(proc)
        wait_healthy(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        end_process(proc.popen, signal.SIGINT, grace_s=10)
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        self.backends.stop()


def end_process(popen: subprocess.Popen[Any], sig: int, *, grace_s: float) -> None:
    """Ask ``popen`` to end with ``sig`` (so it can clean up after itself); SIGKILL when it
    has not ended within ``grace_s``."""
    if popen.poll() is None:
        popen.send_signal(sig)
    try:
        popen.wait(grace_s)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


@contextlib.contextmanager
def stack(*, need_postgres: bool = True) -> Iterator[Stack]:
    """Real servers: the configured REDIS_URL/DATABASE_URL, or private embedded ones.

    ``need_postgres=False`` skips PostgreSQL for benchmarks of the waiting room alone.
    """
    # SIGTERM (``timeout``, a cancelled CI job, ``kill``) stops the servers as Ctrl-C does,
    # instead of leaving them to load the machine for the next run.
    with exit_on_signals():
        yield from _stack(need_postgres)


def _stack(need_postgres: bool) -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="fairgate-bench-"))
    backends = ensure_backends(
        data_dir, os.environ.get("REDIS_URL") or None, os.environ.get("DATABASE_URL") or None,
        need_postgres=need_postgres,
    )
    s = Stack(data_dir, backends)
    finished = False
    try:
        yield s
        finished = True
    finally:
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C reaches bench.run and this process at once, and bench.run then sends
            # SIGTERM too: nothing may cut the clean-up short (exit_on_signals restores it).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        s.close()
        # The servers' data (PostgreSQL's alone is 40-200 MB) goes with them; after a failure
        # their logs stay for a look.
        if finished:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"bench: the servers' logs are kept in {data_dir}", file=sys.stderr)
