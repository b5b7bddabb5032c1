"""Launchers fail with a message that names the server and its log, never by hanging."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fairgate.topology import LocalRedisCluster, LocalSentinel, RedisProcess, TopologyError


def test_a_bad_config_names_the_server_and_its_log(tmp_path: Path) -> None:
    proc = RedisProcess("broken node", tmp_path / "b", 1, ["no-such-directive yes"])
    proc.start()
    with pytest.raises(TopologyError, match=r"broken node exited with status \d+; see .*redis.log"):
        proc.wait_ready(timeout_s=10)
    assert "no-such-directive" in proc.log_path.read_text()


def test_a_taken_port_is_reported_not_waited_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = RedisProcess("node on a taken port", tmp_path / "t", port, [])
        proc.start()
        with pytest.raises(TopologyError, match="node on a taken port exited"):
            proc.wait_ready(timeout_s=10)
    assert "Address already in use" in proc.log_path.read_text()


def test_impossible_shapes_are_refused_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="at least 3 primaries"):
        LocalRedisCluster(primaries=2)
    with pytest.raises(ValueError, match="quorum"):
        LocalSentinel(sentinels=3, quorum=4)
