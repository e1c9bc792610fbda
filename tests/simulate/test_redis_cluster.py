"""The whole server on a real three-primary Redis Cluster: a simulated run (calls through
the Twilio dialect, chats through the widget's socket, SMS, agent bots holding several
conversations) is as right as on one Redis (no routing error, no request failure, every
server count equal to the simulator's), while the slots of the callers' histories are moved
to other nodes in the middle of it (MOVED and ASK followed); nothing they wrote is lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callcenter.domain.callers import caller_key
from callcenter.simulate.traffic import plan_calls
from callcenter.storage import keys
from callcenter.storage.slots import key_slot
from tests.redis_topology import ClusterSet, command, redis_cluster
from tests.simulate.conftest import ServerFactory, scenario
from tests.simulate.outage import assert_clean, run_through

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as found:
        yield found


async def test_a_simulated_run_on_a_cluster_resharded_mid_run(
    start_server: ServerFactory, cluster: ClusterSet
) -> None:
    texts = scenario("texts")
    assert texts.rules_dir is not None
    callers = sorted({caller_key(plan.caller) for plan in plan_calls(texts, "x")})
    histories = [keys.caller_history(key) for key in callers]
    seeds = ",".join(f"{host}:{port}" for host, port in cluster.seeds)
    async with start_server(texts.rules_dir, redis_cluster_nodes=seeds) as server:
        # once a caller's history is written, every caller's history slot moves
        result, moved = await run_through(
            server,
            texts,
            lambda ledger: any(_stored(cluster, history) for history in histories),
            lambda: _move_away(cluster, histories),
        )
    assert moved > 0
    assert_clean(result)
    # every caller who called has a history, on the node now serving its slot
    calls = result.ledger.calls.values()
    called = {caller_key(r.plan.caller) for r in calls if r.hung_up_at is not None}
    assert called and all(_stored(cluster, keys.caller_history(key)) for key in called)


def _stored(cluster: ClusterSet, key: str) -> bool:
    return bool(command(cluster.owner(key_slot(key)), "EXISTS", key))


def _move_away(cluster: ClusterSet, histories: list[str]) -> int:
    """Move each history's slot to the next node; the number of slots moved."""
    slots = sorted({key_slot(history) for history in histories})
    ports = [node.port for node in cluster.nodes]
    for slot in slots:
        owner = cluster.owner(slot)
        cluster.move_slot(slot, ports[(ports.index(owner) + 1) % len(ports)])
    return len(slots)
