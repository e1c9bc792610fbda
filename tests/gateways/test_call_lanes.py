"""One call's ARI events in order, different calls side by side, and a failing job
counted without stopping the lane."""

from __future__ import annotations

import asyncio

from callcenter.gateways.asterisk.call_lanes import CallLanes
from callcenter.metrics import Metrics


async def test_one_calls_jobs_keep_their_order_while_another_call_goes_ahead() -> None:
    lanes = CallLanes(metrics=Metrics())
    done: list[str] = []
    release_a = asyncio.Event()
    b_done = asyncio.Event()

    async def slow_a() -> None:
        await release_a.wait()
        done.append("a1")

    async def record(name: str) -> None:
        done.append(name)
        if name == "b1":
            b_done.set()

    await lanes.submit("a", slow_a)
    await lanes.submit("a", lambda: record("a2"))
    await lanes.submit("b", lambda: record("b1"))
    await asyncio.wait_for(b_done.wait(), 5)  # b is not held up behind a's first job
    assert done == ["b1"]
    release_a.set()
    await lanes.drain()
    assert done == ["b1", "a1", "a2"]


async def test_a_failing_job_is_counted_and_the_lane_goes_on() -> None:
    metrics = Metrics()
    lanes = CallLanes(metrics=metrics)
    done: list[str] = []

    async def fail() -> None:
        raise RuntimeError("a bug")

    async def after() -> None:
        done.append("after")

    await lanes.submit("a", fail)
    await lanes.submit("a", after)
    await lanes.drain()
    assert done == ["after"]
    errors = metrics.registry.get_sample_value(
        "callcenter_task_errors_total", {"task": "asterisk_ari"}
    )
    assert errors == 1.0
