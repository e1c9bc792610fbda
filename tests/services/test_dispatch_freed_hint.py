"""The dispatcher's hint of the agents freed on this instance (`services/freed_agents.py`),
on a real Redis: a pass for an agent freed here reads the heads of its lines with the
ready agents, one round trip fewer, and decides as a pass without the hint; a hint that
misses (a line new since the last pass, an agent taken since) costs that round trip
back, not a decision. A pass asked for takes the dispatch turn with that first read, in
one round trip, unless another instance held the turn last time, and gives it up with its
claim, in the claim's round trip."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from callcenter.domain import agents as agent_rules
from callcenter.domain.agents import Presence
from callcenter.services.dispatch import Dispatcher
from callcenter.services.freed_agents import FreedAgents
from callcenter.storage import keys
from callcenter.storage.dispatch_turn import DispatchTurn, Taken
from callcenter.storage.documents import load_script
from callcenter.storage.resp import RespClient
from tests.call_counts import count_calls, count_round_trips
from tests.services.test_dispatch_parking import Desk
from tests.storage.test_calls import NOW


def count_passes(dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The dispatcher's passes from now on."""
    return count_calls(dispatcher, ("_pass",), monkeypatch)


async def load_scripts(resp: RespClient) -> None:
    """Every script of a pass in Redis (else its first use costs a round trip more)."""
    for name in ("agents_in", "line_ids", "waiting_heads", "commit", "dispatch_turn"):
        await resp.execute("SCRIPT", "LOAD", load_script(name).source)


async def offer_with(
    resp: RespClient, monkeypatch: pytest.MonkeyPatch, freed: FreedAgents | None
) -> tuple[str | None, int]:
    """Two calls waiting, a pass with nobody ready, then Ann freed: the call the pass
    offered her, and the pass's round trips."""
    desk = Desk(resp, freed=freed)
    await load_scripts(resp)
    await desk.queue("c1", rule="easy")
    await desk.queue("c2", rule="easy", priority=5)
    assert await desk.dispatcher.run_pass() == 0  # nobody ready: the lines are known
    await desk.ready_agent(level=5)
    with monkeypatch.context() as patched:
        round_trips = count_round_trips(resp, patched)
        assert await desk.dispatcher.run_pass() == 1
    offered = [call for call in ("c1", "c2") if await desk.offered_to_ann(call)]
    assert len(offered) == 1
    return offered[0], round_trips[0]


async def test_a_pass_for_an_agent_freed_here_reads_its_heads_with_the_first_read(
    resp: RespClient, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    hinted = await offer_with(resp, monkeypatch, FreedAgents())
    await redis_client.flushdb()
    unhinted = await offer_with(resp, monkeypatch, None)
    assert hinted[0] == unhinted[0] == "c2"
    # the first read (with the heads, when hinted), the heads (when not), the claim
    assert (hinted[1], unhinted[1]) == (2, 3)


async def test_a_line_new_since_the_last_pass_is_read_a_round_trip_later(
    resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    freed = FreedAgents()
    desk = Desk(resp, freed=freed)
    await load_scripts(resp)
    assert await desk.dispatcher.run_pass() == 0  # no lines yet
    await desk.queue("c1", rule="easy")
    await desk.ready_agent(level=5)
    with monkeypatch.context() as patched:
        round_trips = count_round_trips(resp, patched)
        assert await desk.dispatcher.run_pass() == 1
    assert round_trips[0] == 3
    assert await desk.offered_to_ann("c1")


async def test_an_agent_taken_after_its_hint_is_not_offered_a_call(resp: RespClient) -> None:
    freed = FreedAgents()
    desk = Desk(resp, freed=freed)
    await desk.queue("c1", rule="easy")
    assert await desk.dispatcher.run_pass() == 0
    await desk.ready_agent(level=5)
    hint = freed.take()
    assert [agent.id for agent in hint] == ["a1"]
    # another instance sees Ann go on a break (this instance is not told): the hint stays
    other = Desk(resp)
    ann = await other.agents.get("a1")
    assert ann is not None
    await other.agents.save(ann, agent_rules.set_presence(ann, Presence.BREAK, NOW), NOW)
    for agent in hint:
        freed.agent_changed(None, agent)
    assert await desk.dispatcher.run_pass() == 0
    assert not await desk.offered_to_ann("c1")


async def waiting_for_ann(resp: RespClient) -> Desk:
    """A desk (hinted) with two calls waiting and the lines read; Ann freed."""
    desk = Desk(resp, freed=FreedAgents())
    await load_scripts(resp)
    await desk.queue("c1", rule="easy")
    await desk.queue("c2", rule="easy", priority=5)
    assert await desk.dispatcher.run_pass() == 0
    await desk.ready_agent(level=5)
    return desk


async def asked_pass_offering_c2(
    desk: Desk, resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> int:
    """A pass asked for as the server asks, which must offer c2 to Ann: its round trips."""
    with monkeypatch.context() as patched:
        round_trips = count_round_trips(resp, patched)
        await desk.dispatcher.run_now()
    assert await desk.offered_to_ann("c2")
    return round_trips[0]


async def test_a_pass_asked_for_takes_the_turn_with_its_first_read(
    resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await waiting_for_ann(resp)
    # the turn taken with the first read (and the heads), the claim with the turn given up
    assert await asked_pass_offering_c2(desk, resp, monkeypatch) == 2


async def test_after_another_instance_had_the_turn_it_is_taken_before_reading(
    resp: RespClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await waiting_for_ann(resp)
    other = DispatchTurn(resp)
    assert await other.take()
    await desk.dispatcher.run_now()  # the other holds the turn: the pass is owed to it
    assert not await desk.offered_to_ann("c2")
    assert await other.finish()  # the pass owed: the other would run it; it does not
    assert not await other.finish()  # and gives the turn up
    # the turn taken alone (this instance did not get it last time), the first read, the
    # heads (Ann's hint went with the read sent when the other held the turn), the claim
    # with the turn given up
    assert await asked_pass_offering_c2(desk, resp, monkeypatch) == 4


async def test_a_pass_asked_for_elsewhere_meanwhile_runs_after_the_claim_kept_the_turn(
    resp: RespClient, redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim finishes the turn: another instance asked for a pass meanwhile (owed), so
    the turn is kept and that pass runs here, then the turn is given up."""
    desk = await waiting_for_ann(resp)
    other = DispatchTurn(resp)
    claims = desk.dispatcher._claims
    claim = claims.claim

    async def claim_while_another_asks(*args: Any) -> Any:
        assert await other.take() is Taken.ELSEWHERE  # owed to this instance
        monkeypatch.setattr(claims, "claim", claim)
        return await claim(*args)

    monkeypatch.setattr(claims, "claim", claim_while_another_asks)
    passes = count_passes(desk.dispatcher, monkeypatch)
    await desk.dispatcher.run_now()
    assert await desk.offered_to_ann("c2")
    assert passes[0] == 2  # the pass owed ran (it found Ann taken: nothing to offer)
    assert not await redis_client.exists(keys.DISPATCH_TURN)  # then the turn was given up
    assert not await redis_client.exists(keys.DISPATCH_OWED)
    assert await other.take() is Taken.TAKEN  # the turn is free for the next
