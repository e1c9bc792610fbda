"""Redis Cluster hash slots: our key_slot agrees with a real cluster-enabled redis-server's
CLUSTER KEYSLOT (hash tags and their edge cases included); every routing key builder lands
in the `{cc}` slot, the bus keys in one slot of their own, and a caller's keys spread by
caller. (That every Lua script the suite runs touches one slot is checked by the
tests.cluster_slots plugin over the whole session.)"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from callcenter.storage import keys
from callcenter.storage.embedded import find_redis_server
from callcenter.storage.slots import key_slot, one_slot
from tests.redis_topology import cluster_port

SAMPLES = [
    "",
    "foo",
    "123456789",
    "{user1000}.following",
    "foo{}{bar}",
    "foo{{bar}}zap",
    "foo{bar}{zap}",
    "{}",
    "{cc}:agents",
    "cc:{+15550001111}:h",
    "ünïcödé{tag}",
]

ROUTING_KEYS = [
    keys.AGENTS,
    keys.WAITING,
    keys.READY,
    keys.READY_ON_VOICE,
    keys.TIMERS,
    keys.SWEEP_TURN,
    keys.call("c-1"),
    keys.calls_in_state("queued"),
    keys.agent("ann"),
    keys.event_seen("e-1"),
    keys.reservation("r-1"),
    keys.callback_claim("+15550001111", "support"),
    keys.task_messages("t-1"),
    keys.open_task("sms", "+15550001111"),
    keys.email_thread("<m@example.com>"),
    keys.message_seen("sms", "SM1"),
    keys.decision("c-1"),
]


@pytest.fixture(scope="module")
def cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    folder: Path = tmp_path_factory.mktemp("cluster-node")
    port = cluster_port()  # its cluster bus port, 10,000 higher, must exist and be free
    command = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--cluster-enabled", "yes", "--dir", str(folder), "--save", ""]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.kill()
        process.wait(10)


def test_key_slot_is_redis_clusters(cluster_node: redis.Redis) -> None:
    every = [*SAMPLES, *ROUTING_KEYS, keys.caller_history("+15550001111"), keys.BUS_LOG]
    for key in every:
        assert key_slot(key) == cluster_node.cluster("KEYSLOT", key), key


def test_routing_state_shares_one_slot_and_caller_data_spreads() -> None:
    assert one_slot(ROUTING_KEYS)
    assert one_slot([keys.BUS_SEQ, keys.BUS_LOG, keys.BUS_EPOCH])
    callers = [f"+1555000{n:04d}" for n in range(200)]
    assert all(
        one_slot([keys.caller_profile(c), keys.caller_history(c)]) for c in callers
    )  # a caller's own keys change together
    slots = {key_slot(keys.caller_history(c)) for c in callers}
    assert len(slots) > 150  # and callers spread over the cluster
    assert key_slot(keys.caller_history(callers[0])) != key_slot(keys.AGENTS)
