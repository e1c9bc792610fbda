"""The dispatch turn in a real Redis: one holder at a time; a pass asked for elsewhere is
owed to the holder, who keeps the turn to run it; a holder that stops answering loses the
turn when it expires; a stopping holder gives it up and the debt stays."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from callcenter.storage import keys
from callcenter.storage.dispatch_turn import DispatchTurn, Taken
from callcenter.storage.documents import CommitPlan, CommitResult, DocumentStore, load_script
from callcenter.storage.resp import RespClient


async def test_one_holder_runs_the_passes_owed_by_others(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    first, second = DispatchTurn(resp), DispatchTurn(resp)
    assert await first.take()
    assert not await second.take()  # held: the pass is owed to the holder
    assert await redis_client.exists(keys.DISPATCH_OWED)
    assert await first.finish()  # owed: keep the turn and run again
    assert not await redis_client.exists(keys.DISPATCH_OWED)
    assert not await first.finish()  # nothing owed: given up
    assert not await redis_client.exists(keys.DISPATCH_TURN)
    assert await second.take()


async def test_a_commit_finishes_the_turn_in_its_round_trip_and_only_once(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    """A pass's last claim finishes the turn after its commit, in one pipeline: should
    Redis lack the commit's script, only the commit is sent again (finishing twice would
    give up the turn the first finish kept for the pass owed)."""
    holder, other = DispatchTurn(resp), DispatchTurn(resp)
    assert await holder.take()
    assert not await other.take()  # a pass owed to the holder
    await redis_client.script_flush()
    await resp.execute("SCRIPT", "LOAD", load_script("dispatch_turn").source)
    plan = CommitPlan()
    plan.put(f"{keys.ROUTING}:doc", 0, {"version": 1})
    (result, _), kept = await DocumentStore(resp).commit_then(plan, holder.finish_read())
    assert result is CommitResult.COMMITTED
    assert kept  # owed: kept, to run it
    assert await redis_client.get(keys.DISPATCH_TURN) is not None
    assert not await redis_client.exists(keys.DISPATCH_OWED)
    plan = CommitPlan()
    plan.put(f"{keys.ROUTING}:doc", 1, {"version": 2})
    (result, _), kept = await DocumentStore(resp).commit_then(plan, holder.finish_read())
    assert result is CommitResult.COMMITTED and not kept  # nothing owed: given up
    assert not await redis_client.exists(keys.DISPATCH_TURN)


async def test_a_silent_holder_loses_the_turn_when_it_expires(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    silent, other = DispatchTurn(resp, seconds=0.2), DispatchTurn(resp)
    assert await silent.take()
    assert not await other.take()
    for _ in range(100):  # until the turn has expired (a positive marker, not a fixed sleep)
        if not await redis_client.exists(keys.DISPATCH_TURN):
            break
        await asyncio.sleep(0.02)
    assert await other.take()
    assert not await silent.finish()  # not its turn any more: it stops
    assert await redis_client.get(keys.DISPATCH_TURN) is not None  # the other's turn is kept


async def test_a_stopping_holder_gives_up_and_the_debt_stays(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    stopping, other = DispatchTurn(resp), DispatchTurn(resp)
    assert await stopping.take()
    assert not await other.take()
    await stopping.release()
    assert not await redis_client.exists(keys.DISPATCH_TURN)
    assert await redis_client.exists(keys.DISPATCH_OWED)
    assert await other.take()  # and taking pays the debt
    assert not await redis_client.exists(keys.DISPATCH_OWED)


async def test_the_holder_may_take_its_turn_again_and_keep_it_for_its_own_pass(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    holder, other = DispatchTurn(resp), DispatchTurn(resp)
    assert await holder.take()
    assert await holder.take()  # a pass that failed left the turn held: still ours
    assert not await other.take()
    assert await holder.finish()  # the other's pass is owed
    assert await holder.finish(again=True)  # and one asked for here: the turn is kept
    assert 0 < await redis_client.pttl(keys.DISPATCH_TURN) <= 2000
    assert not await holder.finish()  # nothing owed: given up
    assert await other.take()


async def test_nothing_to_plan_takes_nothing_and_owes_nothing(
    resp: RespClient, redis_client: aioredis.Redis
) -> None:
    turn, other = DispatchTurn(resp), DispatchTurn(resp)
    empty = [keys.READY, keys.READY_ON_VOICE]
    assert await turn.take(unless_empty=empty) is Taken.NOTHING_TO_PLAN
    assert not await redis_client.exists(keys.DISPATCH_TURN, keys.DISPATCH_OWED)
    await redis_client.sadd(keys.READY_ON_VOICE, "a1")
    assert await turn.take(unless_empty=empty) is Taken.TAKEN
    assert await other.take(unless_empty=empty) is Taken.ELSEWHERE
    assert await redis_client.exists(keys.DISPATCH_OWED)
