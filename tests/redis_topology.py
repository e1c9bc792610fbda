"""Real Redis topologies on loopback for the tests: a primary, replicas and sentinels as
Debian's `redis-server` and `redis-sentinel` processes in a temporary directory, on free
ports, stopped (and their files left for a failing test to read) at the end."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from callcenter.simulate.server_process import free_port
from callcenter.storage.embedded import find_redis_server

MASTER = "mymaster"
DOWN_AFTER_MS = 1000


def command(port: int, *args: str | int) -> Any:
    """One command to the server or sentinel on `port` (redis-py leaves it untyped)."""
    client: Any = redis.Redis(port=port, socket_timeout=5)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def find_redis_sentinel() -> str:
    found = shutil.which("redis-sentinel")
    if found is None:
        raise RuntimeError("the Sentinel tests need Debian's redis-sentinel (scripts/bootstrap)")
    return found


@dataclass
class RedisNode:
    port: int
    process: subprocess.Popen[bytes]
    command: list[str]

    def restart(self) -> None:
        """Start it again, as it was started (its data is what it kept on disk)."""
        self.stop()
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        _wait_up(self)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class SentinelSet:
    """One primary, its replicas and three sentinels watching it as MASTER."""

    folder: Path
    nodes: list[RedisNode] = field(default_factory=list)  # the primary first
    sentinels: list[RedisNode] = field(default_factory=list)

    @property
    def sentinel_setting(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def primary_port(self) -> int:
        """Where the sentinels say the primary is now."""
        _, port = command(self.sentinels[0].port, "SENTINEL", "get-master-addr-by-name", MASTER)
        return int(port)

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.nodes if node.port == port)

    def failover(self, seconds: float = 30) -> int:
        """Ask the sentinels to fail over; the new primary's port once they agree and it
        says it is the primary."""
        old = self.primary_port()
        command(self.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER)
        return self.wait_for_new_primary(old, seconds)

    def crash(self, back_after: float = 3.0) -> int:
        """SIGKILL the primary; once the sentinels promoted a replica, start the old one
        again `back_after` seconds later (as an orchestrator would), to rejoin as a
        replica. The new primary's port."""
        old = self.primary_port()
        self.node(old).stop(signal.SIGKILL)
        new = self.wait_for_new_primary(old, 60)
        time.sleep(back_after)
        self.node(old).restart()
        return new

    def wait_for_new_primary(self, old: int, seconds: float = 30) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            port = self.primary_port()
            if port != old and _role(port) == "master":
                return port
            time.sleep(0.05)
        raise AssertionError(f"no new primary within {seconds} s (still {old})")


def _role(port: int) -> str:
    try:
        return str(command(port, "ROLE")[0], "ascii")
    except redis.RedisError:
        return "down"


def start_node(
    folder: Path, name: str, args: list[str], sentinel: bool = False, port: int = 0
) -> RedisNode:
    """A redis-server (or, with `sentinel`, a redis-sentinel whose configuration lines
    are `args`) in `folder`/`name`, up and answering; on `port`, else a free one."""
    port = port or free_port()
    work = folder / name
    work.mkdir(parents=True)
    if sentinel:
        config = work / "sentinel.conf"
        config.write_text("\n".join(args) + "\n")
        command = [find_redis_sentinel(), str(config), "--port", str(port)]
    else:
        command = [find_redis_server(), "--port", str(port), *args]
    command += ["--bind", "127.0.0.1", "--dir", str(work), "--logfile", str(work / "log")]
    node = RedisNode(port, subprocess.Popen(command, stdout=subprocess.DEVNULL), command)
    _wait_up(node)
    return node


def _wait_up(node: RedisNode, seconds: float = 10) -> None:
    client = node.client()
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if node.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def sentinel_set(folder: Path, *, replicas: int = 1) -> Iterator[SentinelSet]:
    """Started and watched: the replicas in sync and every sentinel seeing all of them."""
    found = SentinelSet(folder)
    plain = ["--save", "", "--appendonly", "no"]
    try:
        primary = start_node(folder, "primary", plain)
        found.nodes.append(primary)
        for n in range(replicas):
            replica = ["--replicaof", "127.0.0.1", str(primary.port), *plain]
            found.nodes.append(start_node(folder, f"replica{n}", replica))
        monitor = [
            f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2",
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER} 10000",
            f"sentinel parallel-syncs {MASTER} 1",
        ]
        for n in range(3):
            found.sentinels.append(start_node(folder, f"sentinel{n}", monitor, sentinel=True))
        _wait_watched(found, replicas)
        yield found
    finally:
        for node in [*found.sentinels, *found.nodes]:
            node.stop()


def _wait_watched(found: SentinelSet, replicas: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _watched(found, replicas):
            return
        time.sleep(0.1)
    raise AssertionError("the sentinels did not see the whole set in time")


def _watched(found: SentinelSet, replicas: int) -> bool:
    info = command(found.nodes[0].port, "INFO", "replication")  # parsed by redis-py
    online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    if sum(v.get("state") == "online" for v in online) < replicas:
        return False
    for sentinel in found.sentinels:
        master = command(sentinel.port, "SENTINEL", "MASTER", MASTER)  # a dict of bytes
        others, seen = int(master[b"num-other-sentinels"]), int(master[b"num-slaves"])
        if others < 2 or seen < replicas:
            return False
    return True


@dataclass
class ClusterSet:
    """Primaries of a Redis Cluster, every slot assigned."""

    folder: Path
    nodes: list[RedisNode] = field(default_factory=list)

    @property
    def seeds(self) -> tuple[tuple[str, int], ...]:
        return tuple(("127.0.0.1", node.port) for node in self.nodes)

    def owner(self, slot: int) -> int:
        """The port of the primary serving `slot`."""
        for start, end, primary, *_ in command(self.nodes[0].port, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise AssertionError(f"slot {slot} is served by no node")

    def move_slot(self, slot: int, to_port: int) -> None:
        """Migrate `slot` and its keys to the node on `to_port`, as `redis-cli --cluster
        reshard` does: importing/migrating, MIGRATE each key, then the new owner."""
        source = self.owner(slot)
        if source == to_port:
            return
        ids = {node.port: command(node.port, "CLUSTER", "MYID").decode() for node in self.nodes}
        command(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_port])
        while keys := command(source, "CLUSTER", "GETKEYSINSLOT", slot, 100):
            command(source, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
        for node in self.nodes:
            command(node.port, "CLUSTER", "SETSLOT", slot, "NODE", ids[to_port])


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too, as Redis needs."""
    for _ in range(100):
        port = free_port()
        if port <= 55535 and _free(port + 10_000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def redis_cluster(folder: Path, *, primaries: int = 3) -> Iterator[ClusterSet]:
    """Started, slots assigned by `redis-cli --cluster create`, every node agreeing."""
    found = ClusterSet(folder)
    args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "5000", "--save", ""]
    try:
        for n in range(primaries):
            found.nodes.append(start_node(folder, f"node{n}", args, port=cluster_port()))
        addresses = [f"127.0.0.1:{node.port}" for node in found.nodes]
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while not all(
            b"cluster_state:ok" in command(node.port, "CLUSTER", "INFO") for node in found.nodes
        ):
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)
        yield found
    finally:
        for node in found.nodes:
            node.stop()
