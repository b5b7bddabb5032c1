"""PgBouncer on loopback in front of a local PostgreSQL, for tests and benchmarks (DESIGN 6).

Production puts PgBouncer in transaction mode between the ticketing processes and the primary;
this starts Debian's ``pgbouncer`` the same way, so the apps' PgBouncer settings
(``PG_STATEMENT_CACHE_SIZE=0``) run against the real thing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from .embedded import free_port
from .topology import HOST, START_TIMEOUT_S, TopologyError, wait_until


class LocalPgBouncer:
    """PgBouncer (Debian's ``pgbouncer``) on loopback in front of a local PostgreSQL socket.

    ``pool_mode`` "transaction" is what production uses in front of the primary; clients then
    must not rely on session state such as named prepared statements.
    """

    def __init__(self, socket_dir: Path, *, user: str = "postgres", pool_mode: str = "transaction",
                 pool_size: int = 5, directory: Path | None = None) -> None:
        self._owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="fairgate-pgbouncer-")) \
            if directory is None else directory
        self.socket_dir = socket_dir
        self.user = user
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port(HOST)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "pgbouncer.log"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{HOST}:{self.port}/{database}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> LocalPgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise TopologyError("Debian pgbouncer is not installed (apt-get install pgbouncer)")
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        conf = self.directory / "pgbouncer.ini"
        conf.write_text("\n".join([
            "[databases]",
            f"* = host={self.socket_dir} user={self.user}",
            "[pgbouncer]",
            f"listen_addr = {HOST}",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            # Loopback only, for tests and benchmarks: no client authentication.
            "auth_type = trust",
            f"auth_file = {self.directory / 'userlist.txt'}",
            f"pool_mode = {self.pool_mode}",
            f"default_pool_size = {self.pool_size}",
            "max_client_conn = 1000",
            # Fail fast instead of queueing clients for minutes when PostgreSQL is unreachable.
            "server_login_retry = 1",
            "query_wait_timeout = 10",
            f"logfile = {self.log_path}",
            f"pidfile = {self.directory / 'pgbouncer.pid'}",
            "",
        ]))
        cmd = [binary, str(conf)]
        self.log_path.touch()
        if os.geteuid() == 0:
            # PgBouncer refuses to run as root; run it as the owner of the PostgreSQL socket.
            owner = pwd.getpwuid(self.socket_dir.stat().st_uid).pw_name
            cmd[1:1] = ["-u", owner]
            for path in (self.directory, *self.directory.iterdir()):
                shutil.chown(path, user=owner)
        # Errors before the log file is open (a bad config) go to stderr: keep them in the log.
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)

        def listening() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise TopologyError(
                    f"pgbouncer exited with status {self.popen.returncode}; see {self.log_path}")
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True

        try:
            wait_until("pgbouncer did not listen", listening, timeout_s, str(self.log_path))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
