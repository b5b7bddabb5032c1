"""``serve --workers N``: N forked processes serving one port through ``SO_REUSEPORT``.

The kernel spreads new connections over the N listening sockets, so no process accepts for the
others and nothing sits in front of them. The parent only supervises:

* SIGTERM, SIGINT or SIGHUP to the parent: SIGTERM to every worker, wait up to
  :data:`GRACE_S` for them to finish what is in flight, SIGKILL the rest, exit 0.
* A worker that dies on its own is reported on stderr and started again, so a crash costs one
  process for a moment, not the service. A worker that dies within :data:`EARLY_EXIT_S` of its
  start (a port in use, a server that cannot be reached) would only die again: the supervisor
  then stops the others and exits 1, like a process manager that gives up on a crash loop.

Workers run in their own process group, so a Ctrl-C in a terminal reaches only the parent,
which stops them in order, and ask the kernel (``PR_SET_PDEATHSIG``) for a SIGTERM should the
parent be killed outright, so none is ever orphaned still holding the port.

With several workers, Prometheus counters are kept in files under a fresh
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and ``/metrics`` of any
worker answers the sum over all of them. The variable must be set before prometheus_client is
imported, which is why :func:`prepare_metrics` runs before the apps are imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# In-flight requests get this long after SIGTERM; the same as gunicorn's graceful_timeout.
GRACE_S = 20.0
# A worker that exits sooner than this after its start is taken for a crash loop.
EARLY_EXIT_S = 3.0
# Restarts are spaced out so a worker failing slowly cannot spin the CPU.
RESTART_DELAY_S = 0.5
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_WATCHED = {*_STOP_SIGNALS, signal.SIGCHLD}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def prepare_metrics(name: str, workers: int) -> str | None:
    """Point prometheus-client at a fresh private directory when more than one process serves.

    A directory already named by ``PROMETHEUS_MULTIPROC_DIR`` holds ours as a subdirectory, so
    two apps (or two runs) on one machine never add up each other's counters.
    """
    if workers <= 1:
        return None
    parent = os.environ.get(MULTIPROC_ENV) or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=f"{name}-metrics-", dir=parent)
    os.environ[MULTIPROC_ENV] = path
    return path


def forget_process(pid: int) -> None:
    """Drop a dead process's live gauges (``multiprocess_mode="live..."``); its counters stay,
    so totals never go down when a worker is replaced."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


@dataclass
class Supervisor:
    """Forks ``workers`` children that each call ``serve_one`` and returns its exit status."""

    name: str
    workers: int
    serve_one: Callable[[], int]
    metrics_dir: str | None = None
    grace_s: float = GRACE_S
    children: dict[int, float] = field(default_factory=dict)  # pid -> start time

    def run(self) -> int:
        # Blocked signals stay pending until sigtimedwait collects them: no handler can run
        # half-way through a fork or a waitpid.
        signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            for _ in range(self.workers):
                self._fork()
            self._say(f"{self.workers} workers started: {sorted(self.children)}")
            return self._watch()
        finally:
            self._stop_all()
            if self.metrics_dir:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)
            # A second SIGTERM sent while stopping is already handled: drop it rather than let
            # it kill the process the moment the signals are unblocked.
            while signal.sigtimedwait(_WATCHED, 0) is not None:
                pass
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)

    def _fork(self) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                _become_worker()
                code = self.serve_one()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # a worker must never fall back into the parent's loop
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = time.monotonic()

    def _watch(self) -> int:
        while True:
            info = signal.sigtimedwait(_WATCHED, 1.0)
            if info is not None and info.si_signo in _STOP_SIGNALS:
                self._say(f"{signal.Signals(info.si_signo).name}: stopping workers")
                return 0
            for pid, status in self._reap():
                started = self.children.pop(pid)
                self._say(f"worker {pid} {_describe(status)}")
                if time.monotonic() - started < EARLY_EXIT_S:
                    self._say(f"worker {pid} died within {EARLY_EXIT_S:.0f}s of its start; "
                              "giving up")
                    return 1
                time.sleep(RESTART_DELAY_S)
                self._fork()
                self._say(f"worker restarted: {sorted(self.children)}")

    def _reap(self) -> list[tuple[int, int]]:
        done: list[tuple[int, int]] = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.children:
                done.append((pid, status))
                forget_process(pid)
        return done

    def _stop_all(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while self.children and time.monotonic() < deadline:
            for pid, status in self._reap():
                self.children.pop(pid, None)
                if _exit_code(status) not in (0, -signal.SIGTERM):
                    self._say(f"worker {pid} {_describe(status)} while stopping")
            if self.children:
                time.sleep(0.05)
        for pid in list(self.children):
            self._say(f"worker {pid} did not stop within {self.grace_s:.0f}s: killed")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.children.pop(pid)

    def _say(self, text: str) -> None:
        print(f"{self.name} supervisor {os.getpid()}: {text}", file=sys.stderr, flush=True)


def _become_worker() -> None:
    """Undo what the supervisor set up for itself; tie the worker's life to the parent's."""
    for sig in _WATCHED:
        signal.signal(sig, signal.SIG_DFL)
    # asyncio (through aiohttp's run_app) turns SIGINT into a clean stop only when it finds
    # Python's own handler in place.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def _describe(status: int) -> str:
    code = _exit_code(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def serve_workers(
    name: str, workers: int, serve_one: Callable[[], int], metrics_dir: str | None = None
) -> int:
    """Run ``serve_one`` in ``workers`` processes (in this one when ``workers`` is 1).

    ``metrics_dir`` (from :func:`prepare_metrics`) is removed when the supervisor exits.
    """
    if workers <= 1:
        return serve_one()
    return Supervisor(name, workers, serve_one, metrics_dir=metrics_dir).run()
