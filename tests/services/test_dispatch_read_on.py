"""A pass for one freed agent reads on only the lines that set its cut, on a real Redis: an
agent that may take none of a high-priority queue's first tasks (its skill is below the
first step's level) reads that queue's line to its end, and not its other lines, and is
offered what the reference planner would offer it."""

from __future__ import annotations

from datetime import timedelta

from callcenter.storage.resp import RespClient
from tests.domain.test_routing_index import VIP_RULES
from tests.services.test_dispatch_parking import Desk
from tests.storage.test_calls import NOW

QUEUES = ("vip", "billing", "sales")
WAITING = 12  # in each queue: more than a first head (8)


async def test_a_freed_agent_reads_on_only_the_line_that_sets_the_cut(resp: RespClient) -> None:
    desk = Desk(resp, VIP_RULES)
    for queue in QUEUES:
        for n in range(WAITING):
            waited = timedelta(seconds=n + (0 if queue == "vip" else 5))
            await desk.queue(
                f"{queue}{n:02d}",
                rule=queue,
                queue=queue,
                priority=5 if queue == "vip" else 0,
                queued_at=NOW - waited,
            )
    await desk.ready_agent(level=0, skills={"vip": 1, "billing": 3, "sales": 3})
    assert await desk.dispatcher.run_pass() == 1
    assert await desk.offered_to_ann("billing11")  # the longest waiting it may take
    # the vip line read to its end; billing's and sales' only their first heads
    assert desk.dispatcher.last_pass.tickets == WAITING + 8 + 8
