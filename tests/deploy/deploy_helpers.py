"""App processes and HAProxy on loopback for the deploy tests.

deploy/haproxy.cfg finds its servers through Docker's DNS; :func:`render_haproxy` rewrites only
what differs on one machine (listen addresses, one ``server`` line per local process) and keeps
everything else (checks, timeouts, balancing, error pages) as shipped. :func:`spawn` runs an
app the way an operator would (``python -m waitingroom serve``, gunicorn), logging to a file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
START_TIMEOUT_S = 30.0
# Each response names the process that answered, so tests can see requests spread out.
SERVED_BY = "X-Served-By"


def render_haproxy(
    template: str, *, binds: dict[str, int], servers: dict[str, list[int]]
) -> str:
    """``binds``: frontend name -> loopback port; ``servers``: backend name -> app ports."""
    out: list[str] = []
    section = ""
    skipping = False
    for line in template.splitlines():
        stripped = line.strip()
        if line and not line[0].isspace():
            keyword, _, rest = stripped.partition(" ")
            section = rest.strip() if keyword in ("frontend", "backend") else keyword
            skipping = keyword == "resolvers"  # no Docker DNS on one machine
        if skipping:
            continue
        if stripped.startswith("bind ") and section in binds:
            out.append(f"    bind 127.0.0.1:{binds[section]}")
        elif stripped.startswith("server-template "):
            out.append(f"    http-response set-header {SERVED_BY} %[srv_name]")
            prefix = stripped.split()[1]
            out.extend(
                f"    server {prefix}{i} 127.0.0.1:{port} check"
                for i, port in enumerate(servers.get(section, []), start=1)
            )
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _get(url: str, timeout: float = 1.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], log: Path,
                 timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError):
            if _get(url) == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f}s; see {log}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn(name: str, cmd: list[str], port: int, directory: Path,
          env: dict[str, str] | None = None) -> Process:
    log = directory / f"{name}.log"
    with open(log, "ab") as fh:
        popen = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=fh,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return Process(name, popen, port, log)


def waitingroom_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "waitingroom", "serve", "--host", "127.0.0.1",
            "--port", str(port)]

